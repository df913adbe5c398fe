@ The init page: the one 4 KiB page that is mapped twice in the boot page table (identity, and at
@ the trampoline VA 0xFFFF0000) and once in the runtime page table (trampoline VA only). Every
@ CPU, the boot CPU and later secondaries or CPUs coming back from hotplug, enters HYP's runtime
@ through it. linker.ld asserts that it fits one page; it only ever uses PC-relative addresses.
@
@ hyp_init_entry, registers on entry:
@   r0 = logical CPU index (< InitParams.ncpus, the CPUs of the device tree)
@   CPU in HYP, MMU off, at the physical address of this page, interrupts masked.
@ Register use:
@   r12 = PA of HYP_INIT_PARAMS (struct InitParams in src/shared.rs)
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
    .type hypfw_init_vectors, %function
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
    .size hypfw_init_vectors, . - hypfw_init_vectors

    .global hyp_init_entry
    .type hyp_init_entry, %function
hyp_init_entry:
    adr_far r12, HYP_INIT_PARAMS
    ldr     r1, [r12, #{IP_NCPUS}]
    cmp     r0, r1                      @ the index selects this CPU's stack, which only the device
    bhs     init_fault                  @ tree's CPUs have: a bad context id must stop here
    cp15    mrc, lr, HSCTLR  @ lr := HSCTLR as this CPU arrived (should have M = 0)
    adr     r1, hypfw_init_vectors
    cp15    mcr, r1, HVBAR  @ HVBAR := init vectors (identity)
    @ Take part in coherency before any cache or the MMU comes on (Cortex-A15/A7 TRMs, ACTLR):
    @ writable from Non-secure only where the Secure firmware set NSACR.NS_SMP; where it did not,
    @ the write is ignored and the runtime says so.
    cp15    mrc, r1, ACTLR
    orr     r1, r1, #{ACTLR_SMP}
    cp15    mcr, r1, ACTLR              @ synchronised by the ISB after the HTTBR write, before
                                        @ the MMU and caches come on
    @ ---- phase 1: boot page table, MMU on, still executing at the identity map ----
    ldr     r1, [r12, #{IP_HMAIR0}]
    cp15    mcr, r1, HMAIR0
    ldr     r1, [r12, #{IP_HMAIR1}]
    cp15    mcr, r1, HMAIR1
    ldr     r1, [r12, #{IP_HTCR}]
    cp15    mcr, r1, HTCR
    ldr     r2, [r12, #{IP_BOOT_HTTBR_LO}]
    ldr     r3, [r12, #{IP_BOOT_HTTBR_HI}]
    cp15_64 mcrr, r2, r3, HTTBR  @ HTTBR := boot pgd
    isb
    cp15    mcr, r1, TLBIALLH  @ TLBIALLH: HYP TLB contents are unknown before first use
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
    cp15    mcr, r1, HSCTLR  @ HSCTLR := M | C | I | WXN | RES1
    isb
    cp15    mcr, r1, BPIALL             @ the translation changed: no prediction from before it
    dsb
    isb
    cp15_64 mrrc, r4, r5, HTTBR  @ r4 := HTTBR low as the MMU now sees it
    cp15    mrc, r5, HSCTLR  @ r5 := HSCTLR read back
    read_cntpct r6, r7                  @ r6/r7 := time phase 1 completed
    adr     r1, hyp_init_phase2
    ubfx    r1, r1, #0, #12
    orr     r1, r1, #{TRAMPOLINE_HI}    @ r1 := hyp_init_phase2 through the trampoline VA
    orr     r1, r1, #{TRAMPOLINE_LO}
    bx      r1

    @ ---- phase 2: executing at 0xFFFF_0xxx, mapped in both page tables ----
hyp_init_phase2:
    adr     r12, hypfw_init_vectors     @ trampoline alias of the init vectors
    cp15    mcr, r12, HVBAR
    cp15_64 mcrr, r2, r3, HTTBR  @ HTTBR := runtime pgd
    isb
    cp15    mcr, r12, TLBIALLH
    cp15    mcr, r12, BPIALL            @ and no branch prediction from the boot table's mappings
    dsb     ish
    isb
    mov     sp, r10
    cp15    mcr, r11, HTPIDR  @ HTPIDR := per-CPU data
    cp15    mcr, r8, HVBAR  @ HVBAR := runtime vectors
    read_cntpct r2, r3                  @ (its ISB synchronises HTPIDR and HVBAR)
    push    {{r2-r8, lr}}               @ PhaseEvidence (src/shared.rs); 8 words keep the
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
    cp15    mcr, r5, HVBAR  @ HVBAR := init vectors (trampoline alias)
    dsb     ish
    cp15_64 mcrr, r2, r3, HTTBR  @ HTTBR := boot pgd
    isb
    cp15    mcr, r5, TLBIALLH
    dsb     ish
    isb
    adr     r5, 2f
    ubfx    r5, r5, #0, #12
    add     r5, r5, r10
    bx      r5                          @ trampoline VA -> identity map (boot pgd)
2:  cp15    mrc, r5, HSCTLR
    bic     r5, r5, #{CTRL_M_C}
    bic     r5, r5, #{HSCTLR_I}
    cp15    mcr, r5, HSCTLR  @ HYP MMU and caches off: running at the PA now
    isb
    @ Nothing stays only in this CPU's own caches (set/way, up to the Level of Unification Inner
    @ Shareable: this CPU's alone, so no other running CPU is disturbed). What must reach memory
    @ for an MMU-off reader (the resume slot of TEARDOWN_RETURN) the runtime cleaned by address.
    bl      dcache_clean_inv_louis
    mov     r5, #0
    cp15    mcr, r5, ICIALLU
    cp15    mcr, r5, BPIALL
    cp15    mcr, r5, TLBIALLH
    dsb     ish
    isb
    adr     r5, hypfw_init_vectors
    cp15    mcr, r5, HVBAR  @ HVBAR := init vectors at the identity address
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
    cp15    mrc, r1, HSR
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
    cp15    mrc, r1, MPIDR
    bic     r1, r1, #{MPIDR_NON_AFFINITY}
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
    mov     r3, #0
    strd    r2, r3, [r1, #{RS_R0}]      @ the caller's r0-r3 on return: SUCCESS, 0, 0, 0
    strd    r2, r3, [r1, #{RS_R0} + 8]
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

@ hypfw_parked: where hypfw points a SoC's CPU release mailbox that parked CPUs poll
@ (Versatile Express's SYS_FLAGS) when it does not start them itself, so that a start address a
@ bootloader left there (U-Boot's pen, in RAM the payload will own) is never where a woken CPU
@ goes; and where a CPU that cannot take part stays. It waits here for ever, in hypfw's region,
@ which stage 2 keeps from the payload.
    .global hypfw_parked
    .type hypfw_parked, %function
hypfw_parked:
    wfe
    b       hypfw_parked
    .size hypfw_parked, . - hypfw_parked

@ hypfw_cpu_index: the calling CPU's logical index, found by its MPIDR among the device tree's
@ CPUs in HYP_INIT_PARAMS. MMU off, no stack; PC-relative only, so it serves in Secure state too.
@ Returns r5 = index (r12 = HYP_INIT_PARAMS, r4 = MPIDR affinity); a CPU the device tree does not
@ list stays in hypfw_parked for good. Clobbers r1, r3.
    .global hypfw_cpu_index
    .type hypfw_cpu_index, %function
hypfw_cpu_index:
    adr_far r12, HYP_INIT_PARAMS
    cp15    mrc, r4, MPIDR
    bic     r4, r4, #{MPIDR_NON_AFFINITY} @ r4 := Aff2.Aff1.Aff0
    ldr     r3, [r12, #{IP_NCPUS}]
    add     r1, r12, #{IP_MPIDR}
    mov     r5, #0
1:  cmp     r5, r3
    bhs     hypfw_parked                @ not in the device tree
    ldr     r0, [r1, r5, lsl #2]
    cmp     r0, r4
    bxeq    lr
    add     r5, r5, #1
    b       1b
    .size hypfw_cpu_index, . - hypfw_cpu_index

@ hypfw_hyp_secondary: where hypfw sends the CPUs it starts itself through a SoC's release mailbox
@ when it entered in Non-secure HYP (src/setup/handover.rs). A CPU arrives as the bootloader's or
@ the model's wait loop left it: in HYP with the MMU off, it waits in the resident pen for a
@ CPU_ON; in any other mode it could not run hypfw, and stays parked.
    .global hypfw_hyp_secondary
    .type hypfw_hyp_secondary, %function
hypfw_hyp_secondary:
    cpsid   aif
    mrs     r0, cpsr
    and     r0, r0, #{MODE_MASK}
    cmp     r0, #{MODE_HYP}
    bne     hypfw_parked
    bl      hypfw_cpu_index
    mov     r0, r5
    b       hypfw_pen_wait
    .size hypfw_hyp_secondary, . - hypfw_hyp_secondary

@ A fault during the switch (an exception through the init vectors, a CPU index out of range, a
@ trap the torn-down stub does not serve, a PSCI CPU_OFF that returned): reach the identity map
@ with the MMU off, whatever state the fault left, and say why on the console.
@ Register use: r4 = HSCTLR, r5 = return point, r6 = fault record / init page PA, r2/r3 = HTTBR.
init_fault:
    cp15    mrc, r4, HSCTLR
    tst     r4, #{CTRL_M}
    beq     2f                          @ MMU off: running at the physical address already
    adr     r5, 1f
    lsr     r6, r5, #16
    movw    r7, #{TRAMPOLINE_VA_HI16}
    cmp     r6, r7
    bne     1f                          @ at the identity map (phase 1): switch off in place
    @ At the trampoline VA, perhaps under the runtime table (no identity map): back to the boot
    @ table, which maps this page at both addresses, and on to the identity alias.
    adr_far r6, hypfw_fault_record
    ldr     r2, [r6, #{FR_BOOT_HTTBR_LO}]
    ldr     r3, [r6, #{FR_BOOT_HTTBR_HI}]
    cp15_64 mcrr, r2, r3, HTTBR
    isb
    cp15    mcr, r2, TLBIALLH
    dsb     ish
    isb
    ldr     r6, [r6, #{FR_INIT_PAGE_PA}]
    ubfx    r5, r5, #0, #12
    add     r5, r5, r6
    bx      r5
1:  cp15    mrc, r4, HSCTLR
    bic     r4, r4, #{CTRL_M_C}
    cp15    mcr, r4, HSCTLR             @ MMU and D-cache off: at the physical address now
    isb
2:  fault_stop init_fault_msg
init_fault_msg:
    .asciz  "hypfw: fatal: in the init page: an exception in phase 1/2 or while torn down, a CPU index out of range, or CPU_OFF returned\n"
    .balign 4

@ hypfw_asm_fatal(r0 = NUL-terminated line): where assembly that cannot go on stops, with the MMU
@ off (the init page, the monitor). Prints the line on the console recorded in hypfw_fault_record
@ (if the boot CPU found one), exits through semihosting with a failing status in test builds
@ (where a host listens), and otherwise halts. No stack.
@ Register use: r4 = cursor, r6 = UART base (0: none), r7 = UART kind, r8 = 16550 register shift,
@ r9 = 16550 access width, r10 = the line, r1 = character, r2/r3/r5 = scratch.
    .global hypfw_asm_fatal
    .type hypfw_asm_fatal, %function
hypfw_asm_fatal:
    mov     r10, r0                     @ r10 := the line, kept for the test host
    mov     r4, r0
    adr_far r5, hypfw_fault_record
    ldr     r6, [r5, #{FR_UART}]
    ldr     r7, [r5, #{FR_UART_KIND}]
    ldr     r8, [r5, #{FR_UART_SHIFT}]
    ldr     r9, [r5, #{FR_UART_WIDTH}]
1:  cmp     r6, #0                      @ no console, or fault_putc gave it up
    beq     3f
    ldrb    r1, [r4], #1
    cmp     r1, #0
    beq     3f
    cmp     r1, #10
    bne     2f
    mov     r1, #13                     @ a newline goes out as CR LF
    bl      fault_putc
    cmp     r6, #0
    beq     3f
    mov     r1, #10
2:  bl      fault_putc
    b       1b
3:
.if {SEMIHOSTING}
    @ A test host gets the line too (when no console is known) and a failing status. Only in
    @ HYP, and with HVBAR at a table whose every entry halts: without a host the SVC is an
    @ exception, which must not run into the live vectors (this same path, again).
    mrs     r2, cpsr
    and     r2, r2, #{MODE_MASK}
    cmp     r2, #{MODE_HYP}
    bne     4f
    adr     r2, fatal_halt_vectors
    cp15    mcr, r2, HVBAR
    isb
    cmp     r6, #0
    moveq   r0, #{SYS_WRITE0}
    moveq   r1, r10
    svceq   {SEMIHOSTING_SVC}
    mov     r0, #{SYS_EXIT}
    ldr     r1, ={ADP_STOPPED_INTERNAL_ERROR}  @ a failing exit
    svc     {SEMIHOSTING_SVC}
.endif
4:  wfi
    b       4b
    .ltorg
    .balign 32
fatal_halt_vectors:
    .rept 8
    b       4b
    .endr
    .size hypfw_asm_fatal, . - hypfw_asm_fatal

@ fault_putc(r1 = character) with r6/r7/r8/r9 as in hypfw_asm_fatal; clobbers r2, r3, r5. Waits
@ for room in the transmitter, then writes the character; leaves the bootloader's line settings.
@ The wait is bounded as the Rust drivers' is (hypfw_uart::ROOM_WAIT_POLLS reads): a transmitter
@ that never makes room is given up, r6 := 0, and the line goes to the test host instead.
fault_putc:
    mov     r5, #{ROOM_WAIT_POLLS}
    cmp     r7, #{UART_KIND_SAMSUNG}
    beq     5f
    cmp     r7, #{UART_KIND_STM32}
    beq     6f
    cmp     r7, #{UART_KIND_IMX}
    beq     7f
    cmp     r7, #{UART_KIND_PL011}
    bne     2f
1:  ldr     r2, [r6, #{PL011_FR}]
    tst     r2, #{PL011_FR_TXFF}
    beq     11f
    subs    r5, r5, #1
    bne     1b
    b       9f
11: str     r1, [r6, #{PL011_DR}]
    bx      lr
2:  mov     r3, #{NS16550_LSR}
    lsl     r3, r3, r8                  @ r3 := LSR offset
    cmp     r9, #4
    beq     4f
3:  ldrb    r2, [r6, r3]
    tst     r2, #{NS16550_LSR_THRE}
    bne     31f
    subs    r5, r5, #1
    bne     3b
    b       9f
31: strb    r1, [r6]                    @ THR (offset 0)
    bx      lr
4:  ldr     r2, [r6, r3]
    tst     r2, #{NS16550_LSR_THRE}
    bne     41f
    subs    r5, r5, #1
    bne     4b
    b       9f
41: str     r1, [r6]
    bx      lr
5:  ldr     r2, [r6, #{SAMSUNG_UTRSTAT}] @ Samsung: wait until the transmitter is empty
    tst     r2, #{SAMSUNG_UTRSTAT_TX_EMPTY}
    bne     51f
    subs    r5, r5, #1
    bne     5b
    b       9f
51: str     r1, [r6, #{SAMSUNG_UTXH}]
    bx      lr
6:  ldr     r2, [r6, #{STM32_ISR}]      @ STM32: wait for room in the transmitter
    tst     r2, #{STM32_ISR_TXE}
    bne     61f
    subs    r5, r5, #1
    bne     6b
    b       9f
61: str     r1, [r6, #{STM32_TDR}]
    bx      lr
7:  ldr     r2, [r6, #{IMX_UTS}]        @ i.MX: wait while the transmit FIFO is full
    tst     r2, #{IMX_UTS_TXFULL}
    beq     71f
    subs    r5, r5, #1
    bne     7b
    b       9f
71: str     r1, [r6, #{IMX_UTXD}]
    bx      lr
9:  mov     r6, #0                      @ no room came: the console is given up
    bx      lr

@ Where assembly that fails finds the console, and how the init page reaches its identity map
@ from the trampoline VA (struct FaultRecord in hypfw_core::abi). Written by the boot CPU into
@ the resident copy, before any code that can fail here runs; read-only afterwards.
    .balign 8
    .global hypfw_fault_record
    .type hypfw_fault_record, %object
hypfw_fault_record:
    .space  {FR_SIZE}
    .size hypfw_fault_record, . - hypfw_fault_record
