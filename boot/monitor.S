@ Secure SVC -> Non-secure HYP, and the Secure-state GIC setup every CPU needs before it leaves.
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
    cp15    mrc, r1, NSACR
    movw    r2, #{NSACR_BITS_LO}
    movt    r2, #{NSACR_BITS_HI}
    orr     r1, r1, r2                  @ NS access to CP10/CP11 (VFP) and the rest, NS_SMP
    cp15    mcr, r1, NSACR
    cmp     r0, #0
    cp15    mcrne, r0, CNTFRQ           @ writable only while Secure
    cp15    mrc, r1, ACTLR
    orr     r1, r1, #{ACTLR_SMP}        @ take part in coherency (Cortex-A15/A7)
    cp15    mcr, r1, ACTLR
    adr     r1, hypfw_monitor_vectors
    cp15    mcr, r1, MVBAR              @ banked per CPU
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

@ hypfw_gic_secure_cpu(r0 = GICD PA, r1 = GICC PA): this CPU's part of the Secure-state GIC setup
@ (ARM IHI 0048B 4.3.10, 4.4.1, 4.4.2): its banked SGIs/PPIs to Group 1 (Non-secure), its CPU
@ interface enabled for both groups, priority mask fully open. The distributor-wide part is done
@ once by the boot CPU (src/drivers/gic.rs). Called from Rust by the boot CPU and from
@ hypfw_secure_secondary by the others; no stack; clobbers r2.
    .global hypfw_gic_secure_cpu
    .type hypfw_gic_secure_cpu, %function
hypfw_gic_secure_cpu:
    mvn     r2, #0
    str     r2, [r0, #{GICD_IGROUPR}]   @ IGROUPR0 is banked per CPU
    mov     r2, #{GICC_CTLR_ENABLE_BOTH}
    str     r2, [r1, #{GICC_CTLR}]
    mov     r2, #{GICC_PMR_ALL}
    str     r2, [r1, #{GICC_PMR}]
    bx      lr
    .size hypfw_gic_secure_cpu, . - hypfw_gic_secure_cpu

    .balign 32
    .global hypfw_monitor_vectors
    .type hypfw_monitor_vectors, %function
hypfw_monitor_vectors:
    b       monitor_fault               @ 0x00 unused
    b       monitor_fault               @ 0x04
    b       monitor_smc                 @ 0x08 SMC
    b       monitor_fault               @ 0x0c
    b       monitor_fault               @ 0x10
    b       monitor_fault               @ 0x14
    b       monitor_fault               @ 0x18
    b       monitor_fault               @ 0x1c

monitor_smc:
    cp15    mrc, r2, SCR
    bic     r2, r2, #{SCR_CLEAR}
    movw    r3, #{SCR_SET}
    orr     r2, r2, r3                  @ NS, FW, AW, HCE
    cp15    mcr, r2, SCR
    isb
    mov     r2, #0
    cp15_64 mcrr, r2, r2, CNTVOFF       @ := 0 (needs SCR.NS = 1 in Monitor mode)
    msr     sp_hyp, r1
    movw    r2, #{HSCTLR_DEFINED_LO}    @ HSCTLR's reset value is UNKNOWN: MMU, caches and
    movt    r2, #{HSCTLR_DEFINED_HI}    @ alignment checks off, RES1 bits set, before any NS-HYP
    cp15    mcr, r2, HSCTLR             @ instruction (reachable from Monitor mode with SCR.NS = 1)
    movw    r2, #{SPSR_HYP_MASKED}
    msr     spsr_cxsf, r2
    movs    pc, lr                      @ to the SMC's next instruction, in NS HYP

@ Any other exception in Monitor mode: Secure state, MMU off (entry.S switched it off).
monitor_fault:
    fault_stop monitor_fault_msg
monitor_fault_msg:
    .asciz  "hypfw: fatal: in the monitor: an exception while switching to Non-secure HYP\n"
    .balign 4
    .size hypfw_monitor_vectors, . - hypfw_monitor_vectors

@ hypfw_secure_secondary: where the boot CPU releases the CPUs parked by boot/entry.S (Secure SVC,
@ MMU off, no stack). Each finds its logical index by MPIDR, makes its banked GIC interrupts
@ Non-secure, switches to Non-secure HYP and waits in the resident pen.
@ Register use: r12 = HYP_INIT_PARAMS, r4 = MPIDR affinity, r5 = index, r3 = count / scratch.
    .global hypfw_secure_secondary
    .type hypfw_secure_secondary, %function
hypfw_secure_secondary:
    cpsid   aif
    bl      hypfw_cpu_index             @ r5 := index, r12 := HYP_INIT_PARAMS (or parked)
    ldr     r0, [r12, #{IP_GICD}]
    cmp     r0, #0
    ldrne   r1, [r12, #{IP_GICC}]
    blne    hypfw_gic_secure_cpu
    ldr     r0, [r12, #{IP_CNTFRQ}]
    secure_cpu_setup
    mov     r1, #0                      @ no stack to carry over
    smc     #0
    mov     r0, r5                      @ Non-secure HYP from here
    b       hypfw_pen_wait
    .size hypfw_secure_secondary, . - hypfw_secure_secondary
