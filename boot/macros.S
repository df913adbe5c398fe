@ Shared assembler macros. Included at the top of the global_asm! text, before every boot/*.S.

@ ---- CP15 registers by name ----
@ `cp15 OP, Rt, NAME` is MRC/MCR (OP may carry a condition, e.g. mcrne) of the named 32-bit
@ register or operation; `cp15_64 OP, Rlo, Rhi, NAME` is MRRC/MCRR of a 64-bit one. An unknown
@ NAME fails to assemble. Encodings: ARM DDI 0406C B3.17 / B4.2 (opc1, CRn, CRm, opc2), cross-
@ checked in shared/docs/armv7-hyp-facts.md §1.
.macro cp15 op, rt, name
    cp15_\name \op, \rt
.endm
.macro cp15_64 op, lo, hi, name
    cp15_64_\name \op, \lo, \hi
.endm
.macro cp15_MPIDR op, rt
    \op p15, 0, \rt, c0, c0, 5
.endm
.macro cp15_CCSIDR op, rt
    \op p15, 1, \rt, c0, c0, 0
.endm
.macro cp15_CLIDR op, rt
    \op p15, 1, \rt, c0, c0, 1
.endm
.macro cp15_CSSELR op, rt
    \op p15, 2, \rt, c0, c0, 0
.endm
.macro cp15_SCTLR op, rt
    \op p15, 0, \rt, c1, c0, 0
.endm
.macro cp15_ACTLR op, rt
    \op p15, 0, \rt, c1, c0, 1
.endm
.macro cp15_SCR op, rt
    \op p15, 0, \rt, c1, c1, 0
.endm
.macro cp15_NSACR op, rt
    \op p15, 0, \rt, c1, c1, 2
.endm
.macro cp15_HSCTLR op, rt
    \op p15, 4, \rt, c1, c0, 0
.endm
.macro cp15_HTCR op, rt
    \op p15, 4, \rt, c2, c0, 2
.endm
.macro cp15_HSR op, rt
    \op p15, 4, \rt, c5, c2, 0
.endm
.macro cp15_ICIALLU op, rt
    \op p15, 0, \rt, c7, c5, 0
.endm
.macro cp15_BPIALL op, rt
    \op p15, 0, \rt, c7, c5, 6
.endm
.macro cp15_DCCISW op, rt
    \op p15, 0, \rt, c7, c14, 2
.endm
.macro cp15_TLBIALL op, rt
    \op p15, 0, \rt, c8, c7, 0
.endm
.macro cp15_TLBIALLH op, rt
    \op p15, 4, \rt, c8, c7, 0
.endm
.macro cp15_HMAIR0 op, rt
    \op p15, 4, \rt, c10, c2, 0
.endm
.macro cp15_HMAIR1 op, rt
    \op p15, 4, \rt, c10, c2, 1
.endm
.macro cp15_VBAR op, rt
    \op p15, 0, \rt, c12, c0, 0
.endm
.macro cp15_MVBAR op, rt
    \op p15, 0, \rt, c12, c0, 1
.endm
.macro cp15_HVBAR op, rt
    \op p15, 4, \rt, c12, c0, 0
.endm
.macro cp15_HTPIDR op, rt
    \op p15, 4, \rt, c13, c0, 2
.endm
.macro cp15_CNTFRQ op, rt
    \op p15, 0, \rt, c14, c0, 0
.endm
.macro cp15_64_HTTBR op, lo, hi
    \op p15, 4, \lo, \hi, c2
.endm
.macro cp15_64_CNTPCT op, lo, hi
    \op p15, 0, \lo, \hi, c14
.endm
.macro cp15_64_CNTVOFF op, lo, hi
    \op p15, 4, \lo, \hi, c14
.endm

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
    cp15_64 mrrc, \reg, \reg2, CNTPCT
.endm

@ Leave the caches of a mode the bootloader left on: \ctrl is SCTLR or HSCTLR, \tlbi the TLB
@ invalidation of that regime. Records in r11 which of M and C were on (ENTRY_* flags), writes
@ back and invalidates every data cache level, switches M, C and I off, invalidates again (lines
@ allocated speculatively meanwhile, which a later cacheable access would otherwise hit), then
@ the I-cache, the branch predictor and the TLB. Runs without a stack; clobbers r0-r7, r12, lr.
.macro caches_off ctrl, tlbi
    cp15    mrc, r0, \ctrl
    tst     r0, #{CTRL_M}
    orrne   r11, r11, #{ENTRY_MMU_WAS_ON}
    tst     r0, #{CTRL_C}
    orrne   r11, r11, #{ENTRY_DCACHE_WAS_ON}
    bl      dcache_clean_inv_all
    cp15    mrc, r0, \ctrl
    bic     r0, r0, #{CTRL_M_C}
    bic     r0, r0, #{CTRL_I}
    cp15    mcr, r0, \ctrl              @ M = C = I = 0
    isb
    bl      dcache_clean_inv_all
    mov     r0, #0
    cp15    mcr, r0, ICIALLU
    cp15    mcr, r0, BPIALL
    cp15    mcr, r0, \tlbi
    dsb
    isb
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

@ Say why assembly stops, on the console and (test builds) through semihosting, then stop for
@ good: \msg is a label of a NUL-terminated line. Needs the MMU off (the UART and the message at
@ their physical addresses) and no stack. Never returns.
.macro fault_stop msg
    adr     r0, \msg
    b       hypfw_asm_fatal
.endm
