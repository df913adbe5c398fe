@ The runtime HYP vector table (HVBAR, runtime VA) and the world switch between the runtime and
@ code running at PL1 (the payload, or the bare image's self-test stub).
@
@ hypfw_enter_pl1(r0 = &Pl1Context) -> r0 = HSR of the exit
@   Saves the runtime's callee-saved registers and the context pointer on the HYP stack, loads the
@   PL1 code's r0-r12, LR_usr (HYP mode has no LR of its own), ELR_hyp and SPSR_hyp, and erets.
@   The next trap from PL1 (vector 0x14) stores its registers back into the context and returns
@   from hypfw_enter_pl1. Pl1Context layout: hypfw_core::abi.
@
@ Every other vector is unexpected: it pushes r0-r12 and lr as a TrapFrame and calls
@ hypfw_hyp_unexpected(frame, vector offset / 4), which reports and stops. Stack slots are
@ STACK_SLOT aligned with an unmapped guard at the bottom; a fault with SP in that guard, or close
@ enough above it that the push would fault (a stack overflow), first moves SP back into the stack
@ so the report can be written.

    .syntax unified
    .arm
    .arch armv7-a
    .arch_extension virt

.macro unexpected_vector kind
    unexpected_push
    unexpected_call \kind
.endm

.macro unexpected_push
    @ Escape when SP is in the guard, or when the 56-byte push below would reach it: a push that
    @ overflowed leaves SP just above the guard, and pushing there again would fault in this same
    @ vector forever. The escape ORs the slot's offset bits into SP, which puts it in the top 256
    @ bytes of the same slot's stack (the stack may be as small as the guard, so no fixed
    @ distance would do). (SUB/ADD without S keep the flags of the TST.)
    tst     sp, #{GUARD_TEST_MASK}      @ Z: SP in the guard
    subne   sp, sp, #64
    tstne   sp, #{GUARD_TEST_MASK}      @ Z: SP - 64 in the guard
    addne   sp, sp, #64                 @ not near the guard: SP as it was
    orreq   sp, sp, #{GUARD_ESCAPE}
    push    {{r0-r12, lr}}
.endm

.macro unexpected_call kind
    mov     r0, sp
    bic     sp, sp, #7                  @ the fault may have come at any SP: AAPCS alignment
    mov     r1, #\kind
    b       hypfw_hyp_unexpected
.endm

    .section .text.vectors, "ax"
    .balign 32
    .global hypfw_runtime_vectors
    .type hypfw_runtime_vectors, %function
hypfw_runtime_vectors:
    b       vec_reset                   @ 0x00 (not used by the architecture in HYP)
    b       vec_undef                   @ 0x04 undefined instruction in HYP
    b       vec_hyp_call                @ 0x08 HVC/SVC executed in HYP
    b       vec_pabt                    @ 0x0c prefetch abort in HYP
    b       vec_dabt                    @ 0x10 data abort in HYP
    b       vec_lower_trap              @ 0x14 trap, HVC or stage-2 abort from PL0/PL1
    b       vec_irq                     @ 0x18
    b       vec_fiq                     @ 0x1c

vec_reset:    unexpected_vector 0
vec_undef:    unexpected_vector 1
vec_hyp_call: unexpected_vector 2
vec_pabt:     unexpected_vector 3

@ A data abort in HYP is hypfw's own fault, and stops it, except at one of the device accesses it
@ carries out for the payload (hypfw_mmio_read/write below): a device that answers with an error
@ (a hole in the page of registers it shares) must cost the payload an abort, not the machine
@ hypfw. Those resume at their fault exit, every register as it was.
vec_dabt:
    unexpected_push
    mrs     r0, elr_hyp
    adr_far r1, mmio_access_begin
    cmp     r0, r1
    blo     1f
    adr_far r1, mmio_access_end
    cmp     r0, r1
    bhs     1f
    adr_far r0, mmio_faulted
    msr     elr_hyp, r0
    pop     {{r0-r12, lr}}
    eret
1:  unexpected_call 4

@ hypfw_mmio_read(r0 = VA, r1 = size: 1, 2 or 4) -> r0 = the value, r1 = 0;
@ hypfw_mmio_write(r0 = VA, r1 = size, r2 = value) -> r0 = 0, r1 = 0.
@ One access of that width at a device's runtime VA, for the payload (src/drivers/mmio.rs). A
@ synchronous data abort at the access returns r0 = 0, r1 = 1 instead (vec_dabt). Leaf code: no
@ stack, r0-r2 only.
    .global hypfw_mmio_read
    .type hypfw_mmio_read, %function
hypfw_mmio_read:
    cmp     r1, #2
    mov     r1, #0                      @ (MOV keeps the flags)
mmio_access_begin:
    ldrblo  r0, [r0]
    ldrheq  r0, [r0]
    ldrhi   r0, [r0]
    bx      lr
    .size hypfw_mmio_read, . - hypfw_mmio_read
    .global hypfw_mmio_write
    .type hypfw_mmio_write, %function
hypfw_mmio_write:
    cmp     r1, #2
    mov     r1, #0
    strblo  r2, [r0]
    strheq  r2, [r0]
    strhi   r2, [r0]
mmio_access_end:
    mov     r0, #0
    bx      lr
    .size hypfw_mmio_write, . - hypfw_mmio_write
mmio_faulted:
    mov     r0, #0
    mov     r1, #1
    bx      lr
vec_irq:      unexpected_vector 6
vec_fiq:      unexpected_vector 7

@ The fast path: HVC #0 calls whose answer is a constant (HYPFW_NULL, HYPFW_VERSION,
@ SMCCC_VERSION), and a trapped SMC PSCI_VERSION, are answered here as hvc::answer and the
@ runtime's psci_call would (value in r0, r1-r3 zero, every other register kept; past the SMC,
@ whose trap returns to the SMC itself), and counted in this CPU's PerCpu.hvcs or .smcs; the PL1
@ context is not stored, as nothing in it changes. Everything else takes the full exit below.
vec_lower_trap:
    push    {{r0, r1}}
    cp15    mrc, r1, HSR
    cmp     r1, #{HSR_HVC0}
    bne     lower_trap_not_hvc0
    movw    r1, #:lower16:{FID_HYPFW_NULL}
    movt    r1, #:upper16:{FID_HYPFW_NULL}
    cmp     r0, r1
    moveq   r0, #0
    beq     lower_trap_answer
    cmp     r0, #{FID_HYPFW_VERSION}
    moveq   r0, #{HYPFW_API_VERSION}
    beq     lower_trap_answer
    cmp     r0, #{FID_SMCCC_VERSION}
    bne     lower_trap_full
    movw    r0, #:lower16:{SMCCC_VERSION_1_1}
    movt    r0, #:upper16:{SMCCC_VERSION_1_1}
lower_trap_answer:
    cp15    mrc, r2, HTPIDR
    ldr     r3, [r2, #{PERCPU_HVCS}]
    add     r3, r3, #1
    str     r3, [r2, #{PERCPU_HVCS}]
lower_trap_return:
    mov     r1, #0
    mov     r2, #0
    mov     r3, #0
    add     sp, sp, #8                  @ drop the saved r0, r1
    eret
lower_trap_not_hvc0:
    @ An SMC with CCKNOTPASS (bit 19) clear: one that failed its condition is for the full exit to
    @ skip. r1 := HSR[31:19] with IL, CV and COND (bits 6:1 there) cleared: EC << 7 | CCKNOTPASS.
    lsr     r1, r1, #19
    bic     r1, r1, #0x7E
    cmp     r1, #({EC_SMC} << 7)
    bne     lower_trap_full
    cmp     r0, #{FID_PSCI_VERSION}     @ 0x84000000: an ARM immediate
    bne     lower_trap_full
    mrs     r1, spsr                    @ from Thumb (where an IT block may end at the SMC): the
    tst     r1, #{PSR_T}                @ full exit moves the IT state on
    bne     lower_trap_full
    mov     r0, #{PSCI_VERSION_1_0}
    mrs     r1, elr_hyp
    add     r1, r1, #4
    msr     elr_hyp, r1
    cp15    mrc, r2, HTPIDR
    ldr     r3, [r2, #{PERCPU_SMCS}]
    add     r3, r3, #1
    str     r3, [r2, #{PERCPU_SMCS}]
    b       lower_trap_return
lower_trap_full:
    ldr     r0, [sp, #8]                @ r0 := &Pl1Context saved by hypfw_enter_pl1
    add     r0, r0, #8
    stm     r0, {{r2-r12}}              @ PL1 r2-r12
    sub     r0, r0, #8
    pop     {{r1, r2}}                  @ r1, r2 := PL1 r0, r1
    stm     r0, {{r1, r2}}
    str     lr, [r0, #{CTX_LR}]
    mrs     r1, elr_hyp
    str     r1, [r0, #{CTX_ELR}]
    mrs     r1, spsr                    @ SPSR_hyp (the banked form is UNDEFINED from HYP)
    str     r1, [r0, #{CTX_SPSR}]
    cp15    mrc, r0, HSR  @ r0 := HSR
    pop     {{r1, r3-r12, pc}}          @ back into hypfw_enter_pl1's caller
    .size hypfw_runtime_vectors, . - hypfw_runtime_vectors

    .section .text.hypfw_enter_pl1, "ax"
    .global hypfw_enter_pl1
    .type hypfw_enter_pl1, %function
hypfw_enter_pl1:
    push    {{r0, r3-r12, lr}}          @ ctx pointer + callee-saved; 12 words keeps 8-byte SP
    load_context_and_eret r0, {CTX_LR}, {CTX_ELR}, {CTX_SPSR}
    .size hypfw_enter_pl1, . - hypfw_enter_pl1

