@ The init page: the one 4 KiB page that is mapped twice in the boot page table (identity, and at
@ the trampoline VA 0xFFFF0000) and once in the runtime page table (trampoline VA only). Every
@ CPU, the boot CPU and later secondaries or CPUs coming back from hotplug, enters HYP's runtime
@ through it. linker.ld asserts that it fits one page; it only ever uses PC-relative addresses.
@
@ hyp_init_entry, registers on entry:
@   r0 = logical CPU index (< MAX_CPUS)
@   CPU in HYP, MMU off, at the physical address of this page, interrupts masked.
@ Register use:
@   r12 = PA of HYP_INIT_PARAMS (struct InitParams in src/runtime/init.rs)
@   r2/r3 = runtime HTTBR (low, high)   r8 = runtime HVBAR VA   r9 = runtime entry VA
@   r10 = this CPU's stack top VA       r11 = this CPU's per-CPU data VA
@   r4 = HTTBR low as read back after phase 1, r5 = HSCTLR read back, r6/r7 = CNTPCT then
@ Exit: runtime entry at its VA, r0 = CPU index, r1 = &PhaseEvidence on the new stack.

    .syntax unified
    .arm
    .arch armv7-a
    .arch_extension virt

    .section .text.init_page, "ax"
    .balign 32
    .global hypfw_init_vectors
hypfw_init_vectors:
    @ Active from phase 1 until HVBAR is set to the runtime vectors: a fault during the MMU
    @ switch must not fall into whatever vectors the bootloader left.
    .rept 8
    b       init_fault
    .endr

    .global hyp_init_entry
    .type hyp_init_entry, %function
hyp_init_entry:
    adr_far r12, HYP_INIT_PARAMS
    adr     r1, hypfw_init_vectors
    mcr     p15, 4, r1, c12, c0, 0      @ HVBAR := init vectors (identity)
    @ ---- phase 1: boot page table, MMU on, still executing at the identity map ----
    ldr     r1, [r12, #{IP_HMAIR0}]
    mcr     p15, 4, r1, c10, c2, 0      @ HMAIR0
    ldr     r1, [r12, #{IP_HMAIR1}]
    mcr     p15, 4, r1, c10, c2, 1      @ HMAIR1
    ldr     r1, [r12, #{IP_HTCR}]
    mcr     p15, 4, r1, c2, c0, 2       @ HTCR
    ldr     r2, [r12, #{IP_BOOT_HTTBR_LO}]
    ldr     r3, [r12, #{IP_BOOT_HTTBR_HI}]
    mcrr    p15, 4, r2, r3, c2          @ HTTBR := boot pgd
    isb
    mcr     p15, 4, r1, c8, c7, 0       @ TLBIALLH: HYP TLB contents are unknown before first use
    dsb     ish
    isb
    @ Load everything phase 2 needs now: once the MMU is on, only this page is mapped.
    ldr     r2, [r12, #{IP_RUNTIME_HTTBR_LO}]
    ldr     r3, [r12, #{IP_RUNTIME_HTTBR_HI}]
    ldr     r8, [r12, #{IP_VECTORS_VA}]
    ldr     r9, [r12, #{IP_ENTRY_VA}]
    add     r1, r12, #{IP_STACK_TOP}
    ldr     r10, [r1, r0, lsl #2]
    add     r1, r12, #{IP_PERCPU}
    ldr     r11, [r1, r0, lsl #2]
    ldr     r1, [r12, #{IP_HSCTLR}]
    mcr     p15, 4, r1, c1, c0, 0       @ HSCTLR := M | C | I | WXN | RES1
    isb
    mrrc    p15, 4, r4, r5, c2          @ r4 := HTTBR low as the MMU now sees it
    mrc     p15, 4, r5, c1, c0, 0       @ r5 := HSCTLR read back
    read_cntpct r6, r7                  @ r6/r7 := time phase 1 completed
    adr     r1, hyp_init_phase2
    ubfx    r1, r1, #0, #12
    orr     r1, r1, #{TRAMPOLINE_HI}    @ r1 := hyp_init_phase2 through the trampoline VA
    orr     r1, r1, #{TRAMPOLINE_LO}
    bx      r1

    @ ---- phase 2: executing at 0xFFFF_0xxx, mapped in both page tables ----
hyp_init_phase2:
    adr     r12, hypfw_init_vectors     @ trampoline alias of the init vectors
    mcr     p15, 4, r12, c12, c0, 0     @ HVBAR
    mcrr    p15, 4, r2, r3, c2          @ HTTBR := runtime pgd
    isb
    mcr     p15, 4, r12, c8, c7, 0      @ TLBIALLH
    dsb     ish
    isb
    mov     sp, r10
    mcr     p15, 4, r11, c13, c0, 2     @ HTPIDR := per-CPU data
    mcr     p15, 4, r8, c12, c0, 0      @ HVBAR := runtime vectors
    isb
    read_cntpct r2, r3
    push    {{r2-r7}}                   @ PhaseEvidence, see src/runtime/init.rs
    mov     r1, sp
    bx      r9
    .size hyp_init_entry, . - hyp_init_entry

@ A fault during the switch: say so if a semihosting host is listening, then stop.
init_fault:
.if {SEMIHOSTING}
    mov     r0, #0x04                   @ SYS_WRITE0
    adr     r1, init_fault_msg
    svc     0x123456
    mov     r0, #0x18                   @ SYS_EXIT
    ldr     r1, =0x2002C                @ ADP_Stopped_InternalError: a failing exit
    svc     0x123456
.endif
1:  wfi
    b       1b
    .ltorg
init_fault_msg:
    .asciz  "hypfw: fatal: exception during the HYP MMU switch (phase 1/2)\n"
    .balign 4
