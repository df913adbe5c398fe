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

@ The per-CPU Secure-state setup before the switch (r0 = CNTFRQ or 0); clobbers r1, r2.
.macro secure_cpu_setup
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
    mcr     p15, 0, r1, c12, c0, 1      @ MVBAR (banked per CPU)
    isb
.endm

    .section .text.monitor, "ax"
    .global hypfw_secure_to_ns_hyp
    .type hypfw_secure_to_ns_hyp, %function
hypfw_secure_to_ns_hyp:
    push    {{r4-r11, lr}}
    secure_cpu_setup
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

@ hypfw_secure_secondary: where the boot CPU releases the CPUs parked by boot/entry.S (Secure SVC,
@ MMU off, no stack). Each finds its logical index by MPIDR, makes its banked GIC interrupts
@ Non-secure, switches to Non-secure HYP and waits in the resident pen.
@ Register use: r12 = HYP_INIT_PARAMS, r4 = MPIDR affinity, r0 = index, r3 = count / scratch.
    .global hypfw_secure_secondary
    .type hypfw_secure_secondary, %function
hypfw_secure_secondary:
    adr_far r12, HYP_INIT_PARAMS
    mrc     p15, 0, r4, c0, c0, 5
    bic     r4, r4, #0xff000000         @ r4 := Aff2.Aff1.Aff0
    ldr     r3, [r12, #{IP_NCPUS}]
    mov     r0, #0
1:  cmp     r0, r3
    bhs     3f                          @ not in the device tree: stay parked for good
    add     r1, r12, #{IP_MPIDR}
    ldr     r1, [r1, r0, lsl #2]
    cmp     r1, r4
    beq     2f
    add     r0, r0, #1
    b       1b
2:  ldr     r1, [r12, #{IP_GICD}]
    cmp     r1, #0
    beq     4f
    mvn     r2, #0
    str     r2, [r1, #0x80]             @ GICD_IGROUPR0 (banked): SGIs/PPIs to Group 1
    ldr     r1, [r12, #{IP_GICC}]
    mov     r2, #3
    str     r2, [r1]                    @ GICC_CTLR: both groups
    mov     r2, #0xff
    str     r2, [r1, #4]                @ GICC_PMR: all priorities
4:  mov     r5, r0                      @ r5 := index (r0 is the CNTFRQ argument below)
    ldr     r0, [r12, #{IP_CNTFRQ}]
    secure_cpu_setup
    mov     r1, #0                      @ no stack to carry over
    smc     #0
    mov     r0, r5                      @ Non-secure HYP from here
    b       hypfw_pen_wait
3:  wfe
    b       3b
    .size hypfw_secure_secondary, . - hypfw_secure_secondary
