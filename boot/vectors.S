@ The runtime HYP vector table (HVBAR, runtime VA) and the switch between the runtime and a guest
@ running at PL1 (the self-test stub now; the payload later).
@
@ hypfw_enter_guest(r0 = &GuestContext) -> r0 = HSR of the exit
@   Saves the runtime's callee-saved registers and the context pointer on the HYP stack, loads the
@   guest's r0-r12, LR_usr (HYP mode has no LR of its own), ELR_hyp and SPSR_hyp, and erets. The
@   next trap from the guest (vector 0x14) stores the guest registers back into the context and
@   returns from hypfw_enter_guest. GuestContext layout: src/runtime/guest.rs.
@
@ Every other vector is unexpected: it pushes r0-r12 and lr as a TrapFrame and calls
@ hypfw_hyp_unexpected(frame, vector offset / 4), which reports and stops. Stack slots are
@ STACK_SLOT aligned with an unmapped guard page at the bottom; a fault with SP in that guard page,
@ or close enough above it that the push would fault (a stack overflow), first moves SP back into
@ the stack so the report can be written.

    .syntax unified
    .arm
    .arch armv7-a
    .arch_extension virt

.macro unexpected_vector kind
    @ Escape when the 56-byte push below would reach the guard page, not only when SP is already
    @ in it: a push that overflowed leaves SP just above the guard, and pushing there again would
    @ fault in this same vector forever. (SUB/ADD without S keep the flags of the TST.)
    sub     sp, sp, #64
    tst     sp, #{GUARD_TEST_MASK}
    add     sp, sp, #64
    addeq   sp, sp, #{GUARD_ESCAPE}
    push    {{r0-r12, lr}}
    mov     r0, sp
    bic     sp, sp, #7                  @ the fault may have come at any SP: AAPCS alignment
    mov     r1, #\kind
    b       hypfw_hyp_unexpected
.endm

    .section .text.vectors, "ax"
    .balign 32
    .global hypfw_runtime_vectors
hypfw_runtime_vectors:
    b       vec_reset                   @ 0x00 (not used by the architecture in HYP)
    b       vec_undef                   @ 0x04 undefined instruction in HYP
    b       vec_hyp_call                @ 0x08 HVC/SVC executed in HYP
    b       vec_pabt                    @ 0x0c prefetch abort in HYP
    b       vec_dabt                    @ 0x10 data abort in HYP
    b       vec_guest_trap              @ 0x14 trap, HVC or stage-2 abort from PL0/PL1
    b       vec_irq                     @ 0x18
    b       vec_fiq                     @ 0x1c

vec_reset:    unexpected_vector 0
vec_undef:    unexpected_vector 1
vec_hyp_call: unexpected_vector 2
vec_pabt:     unexpected_vector 3
vec_dabt:     unexpected_vector 4
vec_irq:      unexpected_vector 6
vec_fiq:      unexpected_vector 7

vec_guest_trap:
    push    {{r0, r1}}
    ldr     r0, [sp, #8]                @ r0 := &GuestContext saved by hypfw_enter_guest
    add     r0, r0, #8
    stm     r0, {{r2-r12}}              @ guest r2-r12
    sub     r0, r0, #8
    pop     {{r1, r2}}                  @ r1, r2 := guest r0, r1
    stm     r0, {{r1, r2}}
    str     lr, [r0, #{GC_LR}]
    mrs     r1, elr_hyp
    str     r1, [r0, #{GC_ELR}]
    mrs     r1, spsr                    @ SPSR_hyp (the banked form is UNDEFINED from HYP)
    str     r1, [r0, #{GC_SPSR}]
    mrc     p15, 4, r0, c5, c2, 0       @ r0 := HSR
    pop     {{r1, r3-r12, pc}}          @ back into hypfw_enter_guest's caller

    .section .text.hypfw_enter_guest, "ax"
    .global hypfw_enter_guest
    .type hypfw_enter_guest, %function
hypfw_enter_guest:
    push    {{r0, r3-r12, lr}}          @ ctx pointer + callee-saved; 12 words keeps 8-byte SP
    load_context_and_eret r0, {GC_LR}, {GC_ELR}, {GC_SPSR}
    .size hypfw_enter_guest, . - hypfw_enter_guest

@ The self-test guest: a few instructions run in SVC with the PL1 MMU off (at their physical
@ address). Each round: the call in r0-r3 (HVC #0, as any SMCCC caller), then HVC #1 hands the
@ results back to the harness.
    .section .text.guest_stub, "ax"
    .global hypfw_guest_stub
hypfw_guest_stub:
1:  hvc     #0
    hvc     #1
    b       1b

@ A secondary entry for the self-test that arrives the way a CPU whose HYP state was not cleaned
@ would: D- and I-cache left on (MMU off), then the ordinary init page entry. r0 = CPU index
@ (PSCI context id), kept. The runtime must notice and report it (PerCpu::dirty_entries).
    .global hypfw_dirty_entry
hypfw_dirty_entry:
    mrc     p15, 4, r1, c1, c0, 0
    orr     r1, r1, #0x4                @ HSCTLR.C
    orr     r1, r1, #0x1000             @ HSCTLR.I
    mcr     p15, 4, r1, c1, c0, 0       @ HSCTLR := as a careless predecessor left it
    isb
    b       hyp_init_entry

@ The guest-driven teardown test: r4 cycles of HYPFW_TEARDOWN (fid in r5), then a call the runtime
@ would answer (r7) that the torn-down stub must refuse with NOT_SUPPORTED, then HYPFW_REINIT
@ (fid in r6); then HVC #1 with r4 = cycles left, r0 = the last result (0 when all went well).
    .global hypfw_guest_teardown
hypfw_guest_teardown:
1:  mov     r0, r5
    hvc     #0                          @ HYP torn down when this returns
    cmp     r0, #0
    bne     2f
    mov     r0, r7
    hvc     #0                          @ only the stub is there now
    cmn     r0, #1
    bne     2f
    mov     r0, r6
    hvc     #0                          @ answered by the init page's stub: HYP comes back
    cmp     r0, #0
    bne     2f
    subs    r4, r4, #1
    bne     1b
2:  hvc     #1
    b       2b

@ The benchmark guest: r4 round trips of HVC #0 with the function ID in r5, then HVC #1.
    .global hypfw_guest_bench
hypfw_guest_bench:
1:  mov     r0, r5
    hvc     #0
    subs    r4, r4, #1
    bne     1b
    hvc     #1
    b       hypfw_guest_bench
@ The baseline for the benchmark: the same loop without the call.
    .global hypfw_guest_bench_base
hypfw_guest_bench_base:
1:  mov     r0, r5
    nop
    subs    r4, r4, #1
    bne     1b
    hvc     #1
    b       hypfw_guest_bench_base

@ PL1 vectors for the self-test guest: any exception there is reported to HYP with HVC #2 and
@ r0 = the vector number, instead of running into whatever the bootloader left.
    .balign 32
    .global hypfw_guest_vectors
hypfw_guest_vectors:
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7
    b       guest_vector_\n
    .endr
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7
guest_vector_\n:
    mov     r0, #\n
    hvc     #2
    .endr
