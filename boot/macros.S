@ Shared assembler macros. Included at the top of every boot/*.S file (global_asm! text).

@ \reg := run-time address of \sym, computed PC-relatively so it is right at any load address
@ and under any mapping of the code (no absolute address, hence no relocation, in .text).
.macro adr_far reg, sym
    ldr     \reg, 8001f
    add     \reg, \reg, pc
    b       8002f
8001: .word \sym - .
8002:
.endm

@ \reg := CNTPCT low word (\reg2 := high word).
.macro read_cntpct reg, reg2
    isb
    mrrc    p15, 0, \reg, \reg2, c14
.endm

@ Return to a lower mode with the registers saved at \base: r0-r12 at +0, LR_usr, ELR_hyp and
@ SPSR_hyp at the given offsets. \base must be r0-r12; it is loaded last (by the LDM).
.macro load_context_and_eret base, lr_off, elr_off, spsr_off
    ldr     r1, [\base, #\elr_off]
    msr     elr_hyp, r1
    ldr     r1, [\base, #\spsr_off]
    msr     spsr_cxsf, r1                @ SPSR_hyp (the banked form is UNDEFINED from HYP)
    ldr     lr, [\base, #\lr_off]
    ldm     \base, {{r0-r12}}
    eret
.endm
