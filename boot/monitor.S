@ Secure SVC -> Non-secure HYP.
@
@ hypfw_secure_to_ns_hyp(r0 = CNTFRQ value or 0 to leave it), called from Rust in Secure SVC
@ with the MMU off, at the physical address of the reserved-region copy of this code (so MVBAR
@ stays valid for later CPUs). Returns in Non-secure HYP on the same stack, all callee-saved
@ registers intact. GIC interrupt groups are set by the caller before this.
@
@ Register use: r1 = scratch; lr_mon = the return address in the caller (the SMC's next insn).

    .syntax unified
    .arm
    .arch armv7-a
    .arch_extension sec
    .arch_extension virt

    .section .text.monitor, "ax"
    .global hypfw_secure_to_ns_hyp
    .type hypfw_secure_to_ns_hyp, %function
hypfw_secure_to_ns_hyp:
    push    {{r4-r11, lr}}
    mrc     p15, 0, r1, c1, c1, 2       @ NSACR
    movw    r2, #{NSACR_BITS_LO}
    movt    r2, #{NSACR_BITS_HI}
    orr     r1, r1, r2                  @ NS access to CP10/CP11 (VFP) and the rest, NS_SMP
    mcr     p15, 0, r1, c1, c1, 2
    cmp     r0, #0
    mcrne   p15, 0, r0, c14, c0, 0      @ CNTFRQ: writable only while Secure
    mrc     p15, 0, r1, c1, c0, 1       @ ACTLR
    orr     r1, r1, #{ACTLR_SMP}        @ take part in coherency (Cortex-A15/A7)
    mcr     p15, 0, r1, c1, c0, 1
    adr     r1, hypfw_monitor_vectors
    mcr     p15, 0, r1, c12, c0, 1      @ MVBAR
    isb
    mov     r1, sp                      @ r1 := stack to continue on in HYP
    smc     #0
    @ Non-secure HYP from here.
    pop     {{r4-r11, pc}}
    .size hypfw_secure_to_ns_hyp, . - hypfw_secure_to_ns_hyp

    .balign 32
    .global hypfw_monitor_vectors
hypfw_monitor_vectors:
    b       .                           @ 0x00 unused
    b       .                           @ 0x04
    b       monitor_smc                 @ 0x08 SMC
    b       .                           @ 0x0c
    b       .                           @ 0x10
    b       .                           @ 0x14
    b       .                           @ 0x18
    b       .                           @ 0x1c

monitor_smc:
    mrc     p15, 0, r2, c1, c1, 0       @ SCR
    bic     r2, r2, #{SCR_CLEAR}
    movw    r3, #{SCR_SET}
    orr     r2, r2, r3                  @ NS, FW, AW, HCE
    mcr     p15, 0, r2, c1, c1, 0
    isb
    mov     r2, #0
    mcrr    p15, 4, r2, r2, c14         @ CNTVOFF := 0 (needs SCR.NS = 1 in Monitor mode)
    msr     sp_hyp, r1
    movw    r2, #{SPSR_HYP_MASKED}
    msr     spsr_cxsf, r2
    movs    pc, lr                      @ to the SMC's next instruction, in NS HYP
