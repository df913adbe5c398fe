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
