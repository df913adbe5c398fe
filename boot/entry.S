@ hypfw entry: the first instructions run after the bootloader (QEMU, U-Boot) jumps to the image.
@
@ Registers on entry (Linux ARM boot protocol; an ELF boot leaves them zero):
@   r0 = 0, r1 = machine type (~0 for DT), r2 = DTB physical address
@   CPU in NS HYP (the normal case), Secure SVC (QEMU secure=on, some board ROMs) or anything else
@   (which the Rust code reports as fatal). MMU and D-cache normally off; handled if they are not.
@
@ What this file does, in assembly because nothing else can run yet:
@   1. keep r0-r2, mask interrupts, note the mode;
@   2. park secondary CPUs that were started at the entry too (Secure SVC entry starts them all);
@   3. if the MMU or D-cache of the current mode is on, clean+invalidate the D-cache, turn both
@      off and invalidate once more, so everything below sees memory as it is;
@   4. move to a 64 KiB-aligned address if needed (never by less than a page: see keep_below_4g
@      for the top of the address space), apply our relocation table (hypfw_core::abi::reloc) for
@      the load address, zero .bss, take the boot stack;
@   5. call boot_main(&EarlyInfo) in Rust, still at the physical load address.
@
@ Register use in this file:
@   r4  = load address of _start          r5 = load address - link address (relocation bias)
@   r6/r7 = CNTPCT at entry (HYP entry only, after the cache clean-up if the caches were on;
@           0 otherwise)
@   r8-r10 = r0-r2 as passed by the bootloader
@   r11 = CPSR mode [4:0] | ENTRY_MMU_WAS_ON | ENTRY_DCACHE_WAS_ON flags

    .syntax unified
    .arm
    .arch armv7-a
    .arch_extension virt
    .arch_extension sec

    .section .text.head, "ax"
    .global _start
    .type _start, %function
_start:
    @ zImage header: eight NOPs, a branch, then the fields U-Boot's bootz and Linux loaders check.
    .rept 8
    mov     r0, r0
    .endr
    b       reset
    .word   0x016F2818          @ 0x24: zImage magic
    .word   0                   @ 0x28: start address; 0 = position independent
    .word   0                   @ 0x2c: end = image size, written by `cargo xtask build`
    .word   0x04030201          @ 0x30: endianness flag (little endian)
    .word   0x45454545          @ 0x34: newer-kernel marker
    .word   0                   @ 0x38: no extension table
    @ 0x3c: the entry pen word (see park_secondary). It sits in the image's first page, which a
    @ self-move (by at least 4 KiB, for a page-aligned load) never overwrites, so CPUs parked in
    @ the copy as loaded keep reading a valid word while the boot CPU moves the image up.
    .global hypfw_secondary_pen
    .type hypfw_secondary_pen, %object
hypfw_secondary_pen:
    .word   0
    .size hypfw_secondary_pen, 4

reset:
    adr     r12, _start
    mov     sp, r12             @ sp := the load address as loaded (kept through the self-move;
                                @ no stack is used before the boot stack is taken)
    mov     r8, r0              @ r8 := boot r0
    mov     r9, r1              @ r9 := boot r1 (machine type)
    mov     r10, r2             @ r10 := boot r2 (DTB PA)
    cpsid   aif
    mov     r6, #0
    mov     r7, #0
    mrs     r11, cpsr
    and     r11, r11, #{MODE_MASK} @ r11 := mode
    cmp     r11, #{MODE_HYP}
    beq     entry_hyp
    cmp     r11, #{MODE_SVC}
    bne     entry_relocate      @ any other mode: Rust reports it and stops

    @ SVC: where a loader starts every CPU at the entry (Secure SVC), only the first core of its
    @ cluster (Aff0 = 0) boots. Not only 0.0.0: the boot CPU's cluster number need not be 0
    @ (Exynos5422 boards boot on the A7 cluster, MPIDR 0x100; BCM2836's cores are 0xF00..0xF03),
    @ and a boot CPU that parked here would wait for itself, silently, for ever.
    cp15    mrc, r0, MPIDR
    tst     r0, #0xFF                   @ Aff0
    bne     park_secondary
    cp15    mrc, r0, SCTLR
    tst     r0, #{CTRL_M_C}
    beq     entry_relocate
    caches_off SCTLR, TLBIALL
    mov     r6, #0                      @ (the clean-up clobbered r6/r7: no entry time in SVC)
    mov     r7, #0
    b       entry_relocate

entry_hyp:
    read_cntpct r6, r7                  @ r6/r7 := CNTPCT at entry
    cp15    mrc, r0, HSCTLR
    tst     r0, #{CTRL_M_C}
    bne     1f
    @ MMU and D-cache off, as the boot protocol asks; the I-cache may be on, and instruction
    @ fetches would then allocate in caches (L2 too) that ICIALLU after the copies below does not
    @ reach: switch it off until phase 1 turns everything on at once.
    bic     r0, r0, #{CTRL_I}
    cp15    mcr, r0, HSCTLR
    isb
    mov     r0, #0
    cp15    mcr, r0, ICIALLU
    cp15    mcr, r0, BPIALL
    dsb
    isb
    b       entry_relocate
1:
    @ Another HYP program left its MMU or D-cache on. We must be identity mapped (we were
    @ entered at a physical address); write back every dirty line, then switch both off.
    caches_off HSCTLR, TLBIALLH
    read_cntpct r6, r7                  @ r6/r7 := CNTPCT again (the clean-up clobbered them)

entry_relocate:
    adr     r4, _start                  @ r4 := load address
    bl      set_early_vectors
    ldr     r5, link_base               @ r5 := link address
    sub     r0, r4, r5
    ubfx    r0, r0, #0, #16
    cmp     r0, #0
    @ The relocation table only works for biases that are multiples of 64 KiB (hypfw_core::abi::reloc):
    @ move the image up to the next such address, copying backwards (the ranges may overlap),
    @ and start this path again there. Move further when the image (its .bss included) would
    @ cover the device tree the bootloader passed (a FIT's tree left in place right after it).
    rsbne   r0, r0, #{RELOC_GRANULE}    @ r0 := distance to the next 64 KiB multiple, or 0
    @ The copy loop below and the entry pen run from the image's first page: a move by less than
    @ a page would overwrite them while they run, so a move of at most a page goes 64 KiB further.
    sub     r1, r0, #1
    cmp     r1, #0x1000
    addlo   r0, r0, #{RELOC_GRANULE}    @ r0 := 0, or a distance of at least 4 KiB
    bl      clear_of_dtb                @ r0 := a distance that also keeps the image off the DTB
    cmp     r0, #0
    beq     relocate
    add     r1, r4, r0                  @ r1 := new start
    bl      keep_below_4g               @ r1 := a start below the image when above would wrap
    adr_far r2, __file_end
    sub     r2, r2, r4                  @ r2 := size of the image's own bytes (through .data)
    ldr     r3, [r4, #{ZIMAGE_END}]     @ r3 := zImage size: the whole file, pack included
    cmp     r3, r2
    movhi   r2, r3                      @ r2 := bytes to copy (sizes compared, not ends: a file
                                        @ that ends at 4 GiB ends at address 0)
    add     r12, r1, r2                 @ r12 := destination cursor (from the end)
    add     r2, r4, r2                  @ r2 := source cursor
1:  ldr     lr, [r2, #-4]!
    str     lr, [r12, #-4]!
    cmp     r2, r4
    bhi     1b
    dsb                                 @ the copy is complete before the I-cache is invalidated
    mov     r0, #0
    cp15    mcr, r0, ICIALLU  @ ICIALLU: the code just moved
    dsb
    isb
    adr     r2, entry_relocate
    sub     r2, r2, r4
    add     r2, r2, r1
    bx      r2

@ clear_of_dtb: r0 = the distance the image would move up (a multiple of 64 KiB from r4's
@ 64 KiB-granule offset, or 0), r4 = its start, r10 = the DTB pointer from the bootloader.
@ Returns in r0 that distance, or a larger one that puts the image (file or .bss, whichever
@ ends later) above the DTB when it would otherwise overlap it. Byte loads (the DTB may have any
@ alignment, and the MMU is off). No stack; clobbers r1-r3.
clear_of_dtb:
    adr_far r1, __image_end
    sub     r1, r1, r4                  @ r1 := image size with .bss
    ldr     r2, [r4, #{ZIMAGE_END}]     @ r2 := file size (pack included)
    cmp     r2, r1
    movhi   r1, r2
    add     r1, r1, r4
    add     r1, r1, r0                  @ r1 := end of what the image will cover
    cmp     r10, #0
    bxeq    lr
    ldrb    r2, [r10]
    ldrb    r3, [r10, #1]
    orr     r2, r3, r2, lsl #8
    ldrb    r3, [r10, #2]
    orr     r2, r3, r2, lsl #8
    ldrb    r3, [r10, #3]
    orr     r2, r3, r2, lsl #8          @ r2 := the DTB's magic (big-endian)
    movw    r3, #{FDT_MAGIC_LO}
    movt    r3, #{FDT_MAGIC_HI}
    cmp     r2, r3
    bxne    lr                          @ not a DTB: Rust says so later
    ldrb    r2, [r10, #4]
    ldrb    r3, [r10, #5]
    orr     r2, r3, r2, lsl #8
    ldrb    r3, [r10, #6]
    orr     r2, r3, r2, lsl #8
    ldrb    r3, [r10, #7]
    orr     r2, r3, r2, lsl #8          @ r2 := totalsize
    add     r2, r2, r10                 @ r2 := end of the DTB
    cmp     r10, r1
    bxhs    lr                          @ the DTB starts above the image's end
    cmp     r2, r4
    bxls    lr                          @ or ends below its start
    movw    r3, #{RELOC_GRANULE_MASK}
    add     r2, r2, r3
    bic     r2, r2, r3                  @ r2 := the next 64 KiB multiple above the DTB
    sub     r0, r2, r4
    bx      lr

@ keep_below_4g: r1 = the start the image would move up to, r4 = its start, r10 = the DTB
@ pointer from the bootloader. When the image there (file or .bss, whichever ends later) would
@ reach past 4 GiB (a load at the very top of a RAM that ends there, as QEMU virt's 3 GiB does),
@ or its last word does not answer a read (past the end of a RAM that ends lower), returns in r1
@ instead a 64 KiB multiple low enough that the copy ends below the image as loaded
@ (and below a DTB that lies under the image: the DTB's own size is not read, so MAX_SIZE bytes
@ are kept clear): a move down whose source and destination do not overlap, so the first page
@ (copy loop, entry pen) stays intact. No stack; clobbers r0, r2, r3, r12.
keep_below_4g:
    adr_far r2, __image_end
    sub     r2, r2, r4                  @ r2 := image size with .bss
    ldr     r3, [r4, #{ZIMAGE_END}]     @ r3 := file size (pack included)
    cmp     r3, r2
    movhi   r2, r3                      @ r2 := span
    sub     r3, r2, #1
    adds    r3, r3, r1                  @ C := the last byte would lie past 4 GiB
    bcs     3f
    @ Past the end of RAM (an image loaded in the last 64 KiB + its size of a RAM that ends below
    @ 4 GiB)? The RAM's end is not known before the device tree is read: read the destination's
    @ last word, which ends in an abort (early_vectors: r0 := 0) where nothing answers.
    bic     r3, r3, #3
    mov     r0, #1
early_probe_load:
    ldr     r3, [r3]
    dsb
    cmp     r0, #0
    bxne    lr
3:  sub     r1, r4, r2                  @ r1 := a start whose copy ends at the image's start
    cmp     r10, #0
    beq     1f
    cmp     r10, r4
    bhs     1f                          @ a DTB above the image's start is not in the way
    cmp     r10, r1
    bhs     2f                          @ the DTB starts inside the destination
    sub     r3, r1, r10
    cmp     r3, #{DTB_MAX_SIZE}
    bhs     1f                          @ it ends (at the latest) below the destination
2:  sub     r1, r10, r2                 @ r1 := a start whose copy ends at the DTB's start
1:  lsr     r1, r1, #16
    lsl     r1, r1, #16                 @ r1 := rounded down to a 64 KiB multiple
    bx      lr

relocate:
    sub     r5, r4, r5                  @ r5 := relocation bias (a multiple of 64 KiB)
    adr_far r0, __relocs_start
    ldr     r1, [r0], #4
    ldr     r2, reloc_magic
    cmp     r1, r2
    movne   r3, #1                      @ r3 := 1: no relocation table (reported by Rust)
    bne     2f
    ldr     r1, [r0], #4                @ r1 := number of absolute words
    ldr     r2, [r0], #4                @ r2 := number of MOVT instructions
    cmp     r1, #0
    ble     5f
1:  ldr     r12, [r0], #4
    ldr     lr, [r4, r12]
    add     lr, lr, r5
    str     lr, [r4, r12]
    subs    r1, r1, #1
    bgt     1b
5:  @ A MOVT's imm16 is imm4 (bits 19:16) : imm12 (bits 11:0), Rd between them. With bits 15:12
    @ set to ones, one ADD of the bias's high half spread the same way (r1) carries from imm12
    @ through Rd into imm4; bits 11:0 and 19:16 of the sum are the new immediate.
    lsr     r3, r5, #28
    ubfx    r1, r5, #16, #12
    orr     r1, r1, r3, lsl #16         @ r1 := bias bits 27:16 at 11:0, bits 31:28 at 19:16
    cmp     r2, #0
    ble     1f
6:  ldr     r12, [r0], #4
    add     r12, r4, r12                @ r12 := address of the MOVT
    ldr     lr, [r12]
    orr     r3, lr, #0xF000
    add     r3, r3, r1
    bfi     lr, r3, #0, #12
    lsr     r3, r3, #16
    bfi     lr, r3, #16, #4
    str     lr, [r12]
    subs    r2, r2, #1
    bgt     6b
1:  mov     r3, #0
    dsb                                 @ the patched words are written before the invalidate
    cp15    mcr, r3, ICIALLU  @ ICIALLU: instructions were patched
    dsb
    isb
2:  adr_far r0, __bss_start
    adr_far r1, __bss_end
    mov     r2, #0
    mov     r5, #0                      @ (the bias is not needed any more)
    mov     r12, #0
    mov     lr, #0
3:  cmp     r0, r1
    stmialo r0!, {{r2, r5, r12, lr}}    @ 32 bytes a step: .bss is 32-byte aligned at both ends
    stmialo r0!, {{r2, r5, r12, lr}}
    blo     3b
    mov     r12, sp                     @ r12 := the load address as loaded (set at reset)
    adr_far sp, __boot_stack_top
    @ EarlyInfo (hypfw_core::abi), on the boot stack
    sub     sp, sp, #{EI_SIZE}
    str     r8, [sp, #{EI_R0}]
    str     r9, [sp, #{EI_R1}]
    str     r10, [sp, #{EI_R2}]
    str     r11, [sp, #{EI_MODE_FLAGS}]
    str     r4, [sp, #{EI_LOAD_ADDR}]
    str     r6, [sp, #{EI_CNTPCT_LO}]
    str     r7, [sp, #{EI_CNTPCT_HI}]
    str     r3, [sp, #{EI_RELOC_MISSING}]
    str     r12, [sp, #{EI_LOADED_AT}]
    @ The boot phase's own exception vectors (hypfw_boot_vectors below), instead of whatever the
    @ bootloader left (U-Boot's, or address 0 after a reset).
    adr_far r0, hypfw_boot_vectors
    adr_far r1, hypfw_boot_vectors_pl1
    bl      set_vectors
    mov     r0, sp
    bl      boot_main
4:  wfi
    b       4b
    .size _start, . - _start

    .balign 4
link_base:
    .word   __link_base                 @ absolute symbol from linker.ld: never relocated
reloc_magic:
    .word   {RELOC_MAGIC}

@ set_early_vectors: exception vectors for the instructions before boot_main (the self-move,
@ reading the device tree's header, the relocation), in this first page, which the self-move
@ never overwrites. A data abort on early_probe_load returns there with r0 := 0 (keep_below_4g's
@ probe of the end of RAM); any other exception is hypfw_asm_fatal's line (to a test host: no
@ console is known yet) and a halt, not a jump into whatever vectors the bootloader left.
@ Before the move the image may run at any word-aligned address, and the vector base ignores the
@ low 5 bits of HVBAR/VBAR: early_vectors is 16 identical entries and the base points 32 bytes
@ into them, so every vector lands on one of them. Clobbers r0, r1, r12.
set_early_vectors:
    adr     r0, early_vectors + 32
    mov     r1, r0
@ set_vectors(r0 = HYP table, r1 = PL1 table), by the entry mode in r11: HVBAR := r0 in HYP; in
@ SVC VBAR := r1 with SCTLR.V clear (vectors at VBAR, not at 0xFFFF0000); nothing in other modes
@ (which boot_main reports). Clobbers r0, r12.
set_vectors:
    and     r12, r11, #{MODE_MASK}
    cmp     r12, #{MODE_HYP}
    cp15    mcreq, r0, HVBAR
    beq     1f
    cmp     r12, #{MODE_SVC}
    bxne    lr
    cp15    mcr, r1, VBAR
    cp15    mrc, r0, SCTLR
    bic     r0, r0, #{SCTLR_V}
    cp15    mcr, r0, SCTLR
1:  isb
    bx      lr

    .balign 32
early_vectors:
    .rept 16
    b       early_trap
    .endr
@ At early_probe_load only r0 (the answer) and r12 are free.
early_trap:
    mrs     r0, cpsr
    and     r0, r0, #{MODE_MASK}
    cmp     r0, #{MODE_ABT}
    beq     1f
    cmp     r0, #{MODE_HYP}
    bne     early_exception
    cp15    mrc, r0, HSR
    lsr     r0, r0, #26
    cmp     r0, #0x25                   @ EC: a data abort in HYP
    bne     early_exception
    mrs     r0, elr_hyp
    adr     r12, early_probe_load
    cmp     r0, r12
    bne     early_exception
    add     r12, r12, #4
    msr     elr_hyp, r12
    mov     r0, #0                      @ the probe's answer: nothing there
    eret
1:  sub     r0, lr, #8                  @ Abort mode (SVC entry): LR = the load + 8
    adr     r12, early_probe_load
    cmp     r0, r12
    bne     early_exception
    mov     r0, #0                      @ the probe's answer: nothing there
    subs    pc, lr, #4                  @ back to SVC, after the load
early_exception:
    adr     r0, early_fatal_msg
    b       hypfw_asm_fatal
early_fatal_msg:
    .asciz  "hypfw: fatal: exception before the boot phase (device tree at r2? the image's move?)\n"
    .balign 4

@ A CPU that is not the boot CPU waits here until the boot CPU writes an entry address into
@ hypfw_secondary_pen and signals an event. Nothing else of the image is touched meanwhile.
@ The loop and its word are in the image's first page (linker.ld asserts it): see 0x3c above.
    .type park_secondary, %function
park_secondary:
    adr_far r0, hypfw_secondary_pen
1:  wfe
    ldr     r1, [r0]
    cmp     r1, #0
    beq     1b
    bx      r1
    .size park_secondary, . - park_secondary
    .global hypfw_park_end              @ a marker for linker.ld's check: the pen's end
    .type hypfw_park_end, %object
hypfw_park_end:
    .size hypfw_park_end, 0

@ Clean and invalidate every data/unified cache level up to the Point of Coherency, by set/way:
@ for leaving the caches of the whole system clean (entry with the caches on).
@ Runs without a stack; clobbers r0-r7 and r12. Resident: hyp_teardown uses it at runtime.
    .section .text.cache_setway, "ax"
    .global dcache_clean_inv_all
    .type dcache_clean_inv_all, %function
dcache_clean_inv_all:
    cp15    mrc, r0, CLIDR  @ r0 := CLIDR
    ubfx    r3, r0, #24, #3             @ LoC
    b       dcache_clean_inv_levels

@ The same up to the Level of Unification Inner Shareable only: the caches private to this CPU
@ (L1 on Cortex-A15/A7), enough when only this CPU leaves HYP; whatever the MMU-off code reads
@ afterwards has been cleaned to the PoC by address.
    .global dcache_clean_inv_louis
    .type dcache_clean_inv_louis, %function
dcache_clean_inv_louis:
    cp15    mrc, r0, CLIDR  @ r0 := CLIDR
    ubfx    r3, r0, #21, #3             @ LoUIS

dcache_clean_inv_levels:                @ r0 = CLIDR, r3 = number of levels to clean
    lsl     r3, r3, #1                  @ r3 := limit in CSSELR.Level encoding (level << 1)
    mov     r2, #0                      @ r2 := current level << 1
1:  cmp     r2, r3
    bhs     5f
    add     r1, r2, r2, lsr #1          @ r1 := 3 * level
    lsr     r1, r0, r1
    and     r1, r1, #7                  @ r1 := Ctype of this level
    cmp     r1, #2
    blo     4f                          @ no data or unified cache here
    cp15    mcr, r2, CSSELR  @ CSSELR := this level, data side
    isb
    cp15    mrc, r1, CCSIDR  @ r1 := CCSIDR
    and     r4, r1, #7
    add     r4, r4, #4                  @ r4 := log2(line size in bytes)
    ubfx    r5, r1, #3, #10             @ r5 := ways - 1 (current way)
    clz     r6, r5                      @ r6 := position of the way field
    ubfx    r7, r1, #13, #15            @ r7 := sets - 1
2:  mov     r1, r7                      @ r1 := current set
3:  lsl     r12, r5, r6
    orr     r12, r12, r2
    orr     r12, r12, r1, lsl r4
    cp15    mcr, r12, DCCISW
    subs    r1, r1, #1
    bge     3b
    subs    r5, r5, #1
    bge     2b
4:  add     r2, r2, #2
    b       1b
5:  mov     r2, #0
    cp15    mcr, r2, CSSELR  @ CSSELR := level 1
    dsb
    isb
    bx      lr
    .size dcache_clean_inv_all, . - dcache_clean_inv_all
    .size dcache_clean_inv_louis, . - dcache_clean_inv_louis

@ hypfw_window_off_clean(): the end of the boot phase's cached window (hypfw_core::mm::window).
@ HSCTLR.M, C, I := 0, then every data and unified cache level cleaned and invalidated by
@ set/way up to the LoC. Between switching C off and the end of the clean this makes no load or
@ store (with C = 0 a load need not look up a dirty line): the registers are pushed before, into
@ a cached line the clean writes back, and popped after, from memory. Identity mapped, so the
@ next fetch after M = 0 is the same address. Only while no other CPU runs hypfw code.
    .section .text.boot.window, "ax"
    .global hypfw_window_off_clean
    .type hypfw_window_off_clean, %function
hypfw_window_off_clean:
    push    {{r4-r7, lr}}
    dsb
    cp15    mrc, r0, HSCTLR
    bic     r0, r0, #{CTRL_M_C}
    bic     r0, r0, #{CTRL_I}
    cp15    mcr, r0, HSCTLR            @ M = C = I = 0
    isb
    bl      dcache_clean_inv_all        @ ends with DSB, ISB
    pop     {{r4-r7, pc}}
    .size hypfw_window_off_clean, . - hypfw_window_off_clean

@ HVBAR while the window is open: any exception there (a range missing from its map, a bug)
@ closes the window as above and stops with a `fatal:` line (setup::payload::window_fault)
@ instead of jumping to whatever vectors the bootloader left. r4-r6 := HSR, ELR_hyp, HDFAR, kept
@ across the close (callee-saved in it).
    .balign 32
    .global hypfw_window_vectors
hypfw_window_vectors:
    .rept 8
    b       hypfw_window_exception
    .endr
hypfw_window_exception:
    cp15    mrc, r4, HSR
    mrs     r5, elr_hyp
    mrc     p15, 4, r6, c6, c0, 0       @ HDFAR
    bl      hypfw_window_off_clean
    mov     r0, r4
    mov     r1, r5
    mov     r2, r6
    b       hypfw_window_fault

    .section .noinit.boot_stack, "aw", %nobits
    .balign 16
    .global __boot_stack
    .type __boot_stack, %object
__boot_stack:
    .space  {BOOT_STACK_SIZE}
    .size __boot_stack, . - __boot_stack
__boot_stack_top:

@ The boot phase's exception vectors, at the load address with the MMU off. An exception there is
@ an external abort (the device tree names RAM or a device that does not answer), an instruction
@ the CPU lacks, or a bug: hypfw_boot_fault (setup::fault) says which and where, and stops. The one
@ expected exception is a data abort at hypfw_boot_probe's load, which returns 0 from it.
@ In HYP (the usual entry):
    .section .text.boot.vectors, "ax"
    .balign 32
    .global hypfw_boot_vectors
hypfw_boot_vectors:
    .rept 4
    b       boot_exception
    .endr
    b       boot_data_abort             @ 0x10: data abort
    .rept 3
    b       boot_exception
    .endr
boot_data_abort:
    mrs     r12, elr_hyp
    adr     r3, boot_probe_load
    cmp     r12, r3
    adrne   r3, boot_probe_load8
    cmpne   r12, r3
    bne     boot_exception
    add     r12, r12, #4
    msr     elr_hyp, r12
    mov     r0, #0                      @ the probe's answer: nothing there
    eret
boot_exception:
    cp15    mrc, r0, HSR
    mrs     r1, elr_hyp
    mrc     p15, 4, r2, c6, c0, 0       @ HDFAR
    mrc     p15, 4, r3, c6, c0, 2       @ HIFAR
    adr_far sp, __boot_stack_top        @ a stack that works whatever happened to the old one
    b       hypfw_boot_fault_hyp

@ In Secure SVC (and Non-secure SVC, until it is reported): r0 := the vector's offset, r1 := the
@ faulting instruction, r2/r3 := the fault status and address registers of that kind; then back
@ to SVC on the boot stack.
    .balign 32
    .global hypfw_boot_vectors_pl1
hypfw_boot_vectors_pl1:
    b       boot_pl1_other              @ 0x00
    b       boot_pl1_undefined          @ 0x04
    b       boot_pl1_other              @ 0x08: SVC
    b       boot_pl1_prefetch_abort     @ 0x0C
    b       boot_pl1_data_abort         @ 0x10
    b       boot_pl1_other              @ 0x14
    b       boot_pl1_other              @ 0x18
    b       boot_pl1_other              @ 0x1C
boot_pl1_data_abort:
    sub     r12, lr, #8                 @ r12 := the aborted instruction
    adr     r3, boot_probe_load
    cmp     r12, r3
    adrne   r3, boot_probe_load8
    cmpne   r12, r3
    moveq   r0, #0                      @ the probe's answer: nothing there
    subseq  pc, lr, #4                  @ back to SVC, after the load
    mov     r1, r12
    mov     r0, #0x10
    mrc     p15, 0, r2, c5, c0, 0       @ DFSR
    mrc     p15, 0, r3, c6, c0, 0       @ DFAR
    b       boot_pl1_report
boot_pl1_prefetch_abort:
    sub     r1, lr, #4
    mov     r0, #0x0C
    mrc     p15, 0, r2, c5, c0, 1       @ IFSR
    mrc     p15, 0, r3, c6, c0, 2       @ IFAR
    b       boot_pl1_report
boot_pl1_undefined:
    sub     r1, lr, #4                  @ (A32: the instruction before the return address)
    mov     r0, #0x04
    b       1f
boot_pl1_other:
    mov     r1, lr
    mov     r0, #0
1:  mov     r2, #0
    mov     r3, #0
boot_pl1_report:
    cps     #{MODE_SVC}
    adr_far sp, __boot_stack_top
    b       hypfw_boot_fault_pl1

@ hypfw_boot_probe(r0 = address, r1 = width: 1 or 4) -> r0: 1 when a read of that width at the
@ address completed, 0 when it aborted (hypfw_boot_vectors and _pl1 return 0 from the load).
@ For a device's register before it is used (the console's status register). Clobbers r1-r3, r12.
    .global hypfw_boot_probe
    .type hypfw_boot_probe, %function
hypfw_boot_probe:
    mov     r12, r0
    mov     r0, #1
    dsb
    cmp     r1, #1
    beq     boot_probe_load8
boot_probe_load:
    ldr     r2, [r12]
    dsb
    bx      lr
boot_probe_load8:
    ldrb    r2, [r12]
    dsb
    bx      lr
    .size hypfw_boot_probe, . - hypfw_boot_probe

@ hypfw_probe_secure() -> r0: 1 in Secure SVC, 0 in Non-secure SVC. Reads SCR, which is UNDEFINED
@ from Non-secure PL1, with a temporary vector table whose undefined-instruction entry returns 0.
@ Register use: r4 = saved VBAR, r5 = saved SCTLR (V cleared so VBAR is used).
    .section .text.boot.probe, "ax"
    .global hypfw_probe_secure
    .type hypfw_probe_secure, %function
hypfw_probe_secure:
    push    {{r4, r5, r6, lr}}
    cp15    mrc, r4, VBAR  @ r4 := VBAR
    cp15    mrc, r5, SCTLR  @ r5 := SCTLR
    bic     r1, r5, #{SCTLR_V}
    cp15    mcr, r1, SCTLR
    adr     r1, probe_vectors
    cp15    mcr, r1, VBAR
    isb
    mov     r0, #1
    cp15    mrc, r1, SCR  @ SCR; undefined when Non-secure -> r0 := 0
    cp15    mcr, r4, VBAR
    cp15    mcr, r5, SCTLR
    isb
    pop     {{r4, r5, r6, pc}}
    .size hypfw_probe_secure, . - hypfw_probe_secure
    .balign 32
probe_vectors:
    b       .
    b       probe_undef
    .rept 6
    b       .
    .endr
probe_undef:
    mov     r0, #0
    movs    pc, lr                      @ back to SVC, at the instruction after the MRC

    .section .hypfw_relocs, "a"
    .balign 4
    .space  {RELOC_TABLE_BYTES}         @ filled in by `cargo xtask build`
