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
@   lr = HSCTLR as the CPU arrived
@ Exit: runtime entry at its VA, r0 = CPU index, r1 = &PhaseEvidence on the new stack.
@
@ The same entry serves the boot CPU, secondaries started by PSCI CPU_ON (r0 = context id =
@ CPU index), CPUs leaving the pen, and CPUs re-initialised after hyp_teardown.

    .syntax unified
    .arm
    .arch armv7-a
    .arch_extension virt
    .arch_extension sec

    .section .text.init_page, "ax"
    .balign 32
    .global hypfw_init_vectors
hypfw_init_vectors:
    @ Active from phase 1 until HVBAR is set to the runtime vectors (a fault during the MMU
    @ switch must not fall into whatever vectors the bootloader left), and while HYP is torn
    @ down, when the trap entry serves as a minimal stub for the lower modes.
    b       init_fault                  @ 0x00
    b       init_fault                  @ 0x04
    b       init_fault                  @ 0x08
    b       init_fault                  @ 0x0c
    b       init_fault                  @ 0x10
    b       init_stub_trap              @ 0x14 trap from PL0/PL1
    b       init_fault                  @ 0x18
    b       init_fault                  @ 0x1c

    .global hyp_init_entry
    .type hyp_init_entry, %function
hyp_init_entry:
    cmp     r0, #{MAX_CPUS}             @ the index selects this CPU's stack: a bad context id
    bhs     init_fault                  @ must stop here, not become a stack pointer
    mrc     p15, 4, lr, c1, c0, 0       @ lr := HSCTLR as this CPU arrived (should have M = 0)
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
    push    {{r2-r8, lr}}               @ PhaseEvidence (src/runtime/init.rs); 8 words keep the
                                        @ stack 8-byte aligned as the AAPCS requires
    mov     r1, sp
    bx      r9
    .size hyp_init_entry, . - hyp_init_entry

@ hyp_teardown: the dual-step init run backwards, for one CPU. Called from the runtime at its VA:
@   r0 = CPU index, r1 = what to do afterwards (TEARDOWN_*), r2/r3 = boot pgd (low, high),
@   [sp] = physical address of this page. Interrupts are masked. Never returns.
@ Register use: r8 = CPU index, r9 = action, r10 = init page PA, r5 = branch target.
    .global hyp_teardown
    .type hyp_teardown, %function
hyp_teardown:
    ldr     r10, [sp]
    mov     r8, r0
    mov     r9, r1
    adr     r5, 1f
    ubfx    r5, r5, #0, #12
    orr     r5, r5, #{TRAMPOLINE_HI}
    orr     r5, r5, #{TRAMPOLINE_LO}
    bx      r5                          @ runtime VA -> trampoline VA (runtime pgd)
1:  adr     r5, hypfw_init_vectors
    mcr     p15, 4, r5, c12, c0, 0      @ HVBAR := init vectors (trampoline alias)
    dsb     ish
    mcrr    p15, 4, r2, r3, c2          @ HTTBR := boot pgd
    isb
    mcr     p15, 4, r5, c8, c7, 0       @ TLBIALLH
    dsb     ish
    isb
    adr     r5, 2f
    ubfx    r5, r5, #0, #12
    add     r5, r5, r10
    bx      r5                          @ trampoline VA -> identity map (boot pgd)
2:  mrc     p15, 4, r5, c1, c0, 0
    bic     r5, r5, #{HSCTLR_M_C}
    bic     r5, r5, #{HSCTLR_I}
    mcr     p15, 4, r5, c1, c0, 0       @ HYP MMU and caches off: running at the PA now
    isb
    cmp     r9, #{TEARDOWN_RETURN}
    bne     3f
    bl      dcache_clean_inv_all        @ handing HYP back: every level clean to the PoC
    b       4f
3:  bl      dcache_clean_inv_louis      @ nothing stays only in this CPU's own caches
4:
    mov     r5, #0
    mcr     p15, 0, r5, c7, c5, 0       @ ICIALLU
    mcr     p15, 4, r5, c8, c7, 0       @ TLBIALLH
    dsb     ish
    isb
    adr     r5, hypfw_init_vectors
    mcr     p15, 4, r5, c12, c0, 0      @ HVBAR := init vectors at the identity address
    isb
    mov     r0, r8
    cmp     r9, #{TEARDOWN_REINIT}
    beq     hyp_init_entry
    cmp     r9, #{TEARDOWN_PEN}
    beq     hypfw_pen_wait
    cmp     r9, #{TEARDOWN_RETURN}
    beq     teardown_return
    movw    r0, #{PSCI_CPU_OFF_LO}      @ TEARDOWN_CPU_OFF
    movt    r0, #{PSCI_CPU_OFF_HI}
    smc     #0                          @ PSCI CPU_OFF: does not return on success
    b       init_fault
    .size hyp_teardown, . - hyp_teardown

@ The stub: HVCs that reach HYP while it is torn down (MMU off, HVBAR = this page's identity
@ address). HYPFW_REINIT saves the caller in HYP_RESUME[cpu] and runs the dual-step init; the
@ runtime then resumes the caller with r0 = 0. Any other call gets NOT_SUPPORTED. Per SMCCC the
@ stub may change r0-r3 only.
init_stub_trap:
    mrc     p15, 4, r1, c5, c2, 0       @ HSR
    lsr     r1, r1, #26
    cmp     r1, #{EC_HVC}
    bne     init_fault                  @ only HVCs are expected while torn down
    movw    r1, #{HYPFW_REINIT_LO}
    movt    r1, #{HYPFW_REINIT_HI}
    cmp     r0, r1
    mvnne   r0, #0                      @ NOT_SUPPORTED
    eretne
    @ r0 := logical index of this CPU, from its MPIDR
    adr_far r3, HYP_INIT_PARAMS
    mrc     p15, 0, r1, c0, c0, 5
    bic     r1, r1, #0xff000000
    add     r3, r3, #{IP_MPIDR}
    mov     r0, #0
1:  ldr     r2, [r3, r0, lsl #2]
    cmp     r2, r1
    beq     2f
    add     r0, r0, #1
    cmp     r0, #{MAX_CPUS}
    blo     1b
    b       init_fault
2:  adr_far r1, HYP_RESUME
    add     r1, r1, r0, lsl #{RESUME_SHIFT}
    add     r2, r1, #{RS_R4}
    stm     r2, {{r4-r12, lr}}          @ r4-r12, LR_usr
    mrs     r2, elr_hyp
    str     r2, [r1, #{RS_ELR}]
    mrs     r2, spsr
    str     r2, [r1, #{RS_SPSR}]
    mov     r2, #0
    str     r2, [r1, #0]                @ the caller's r0-r3 on return: SUCCESS, 0, 0, 0
    str     r2, [r1, #4]
    str     r2, [r1, #8]
    str     r2, [r1, #12]
    mov     r2, #1
    str     r2, [r1, #{RS_PENDING}]
    b       hyp_init_entry

@ The end of hyp_teardown for TEARDOWN_RETURN: back to the caller saved in HYP_RESUME[r8].
teardown_return:
    adr_far r0, HYP_RESUME
    add     r0, r0, r8, lsl #{RESUME_SHIFT}
    load_context_and_eret r0, {RS_LR}, {RS_ELR}, {RS_SPSR}

@ hypfw_pen_wait: r0 = CPU index; NS HYP, MMU off. Where a CPU waits when hypfw itself is the
@ PSCI provider (Secure SVC entry): it marks itself parked, waits for its release word, and
@ enters the dual-step init. The words are in their own cache lines; the runtime cleans the
@ release word to memory before SEV and invalidates the status word before reading it.
@ Register use: r1 = this CPU's pen slot, r2 = scratch.
    .global hypfw_pen_wait
    .type hypfw_pen_wait, %function
hypfw_pen_wait:
    adr_far r1, HYP_PEN
    add     r1, r1, r0, lsl #{PEN_SLOT_SHIFT}
    mov     r2, #1
    str     r2, [r1, #{PEN_STATUS}]     @ status := parked
    dsb
    sev
1:  wfe
    ldr     r2, [r1, #{PEN_RELEASE}]
    cmp     r2, #0
    beq     1b
    mov     r2, #0
    str     r2, [r1, #{PEN_RELEASE}]
    str     r2, [r1, #{PEN_STATUS}]     @ status := running
    dsb
    b       hyp_init_entry
    .size hypfw_pen_wait, . - hypfw_pen_wait

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
    .asciz  "hypfw: fatal: in the init page: an exception during the HYP MMU switch (phase 1/2), or a CPU index out of range\n"
    .balign 4
