@ Semihosting (ARM DUI 0471: SVC 0x123456 in ARM state), as an extra channel for a test host,
@ safe on a machine that has none: without a host, QEMU (or silicon) takes the SVC as an
@ exception. hypfw_semihosting points the vector table of the current mode at a probe table
@ first, whose SVC entry returns with "no host" instead of running into whatever vectors are
@ live (the runtime's report, the init page's fault path, a bootloader's table).
@
@ hypfw_semihosting(r0 = operation, r1 = parameter) -> r0: the host's answer, or 0xFFFFFFFF
@ when no host answered (r1 then says so: 1). Called in HYP (any MMU state: the table is
@ reached PC-relatively) or in Secure SVC (boot phase before the switch).
@ Register use: r4 = mode, r5 = the vector base register's old value, r12 = 1 when no host.

    .section .text.semihost, "ax"
    .global hypfw_semihosting
    .type hypfw_semihosting, %function
hypfw_semihosting:
    push    {{r4, r5, r6, lr}}
    mov     r12, #0
    mrs     r4, cpsr
    and     r4, r4, #{MODE_MASK}
    adr     r2, semihost_probe_vectors
    cmp     r4, #{MODE_HYP}
    bne     1f
    cp15    mrc, r5, HVBAR
    cp15    mcr, r2, HVBAR
    isb
    svc     {SEMIHOSTING_SVC}
    cp15    mcr, r5, HVBAR
    isb
    b       2f
1:  cp15    mrc, r5, VBAR               @ SVC mode: VBAR (SCTLR.V is clear in hypfw's boot phase)
    cp15    mrc, r6, SCTLR
    bic     r3, r6, #{SCTLR_V}
    cp15    mcr, r3, SCTLR
    cp15    mcr, r2, VBAR
    isb
    svc     {SEMIHOSTING_SVC}           @ a host answers in r0; else the probe sets r12 (and lr_svc)
    cp15    mcr, r5, VBAR
    cp15    mcr, r6, SCTLR
    isb
2:  cmp     r12, #0
    mvnne   r0, #0
    mov     r1, r12
    pop     {{r4, r5, r6, pc}}
    .size hypfw_semihosting, . - hypfw_semihosting

    .balign 32
    .type semihost_probe_vectors, %function
semihost_probe_vectors:
    b       .                           @ 0x00
    b       .                           @ 0x04
    b       semihost_absent             @ 0x08: SVC (in HYP: the HVC/SVC-in-HYP vector)
    b       .                           @ 0x0c
    b       .                           @ 0x10
    b       .                           @ 0x14
    b       .                           @ 0x18
    b       .                           @ 0x1c
semihost_absent:
    mov     r12, #1
    mrs     r3, cpsr
    and     r3, r3, #{MODE_MASK}
    cmp     r3, #{MODE_HYP}
    bne     3f
    eret                                @ HYP: to the instruction after the SVC (ELR_hyp)
3:  movs    pc, lr                      @ SVC: likewise (LR_svc)
    .size semihost_probe_vectors, . - semihost_probe_vectors
