@ Self-test payload entry points. SVC mode, MMU and D-cache off, as hypfw enters a payload.
@   _start:      boot CPU, r0 = 0, r1 = ~0, r2 = DTB (Linux boot protocol)
@   _secondary:  CPUs started with PSCI CPU_ON, r0 = context id = logical CPU index
@ Register use: r4 = CPU index, r5 = DTB, r1/r2 scratch.
    .syntax unified
    .arm
    .section .text.entry, "ax"
    .global _start
_start:
    mov     r5, r2
    mov     r4, #0
    ldr     r1, =__bss_start
    ldr     r2, =__bss_end
    mov     r3, #0
1:  cmp     r1, r2
    strlo   r3, [r1], #4
    blo     1b
    bl      common_setup
    mov     r0, r5
    bl      payload_main
2:  b       2b

    .global _secondary
_secondary:
    mov     r4, r0
    bl      common_setup
    mov     r0, r4
    bl      payload_secondary
3:  b       3b

@ r4 = CPU index: stacks (SVC, and Abort/Undefined in the lowest 1 KiB of the slot), vectors.
common_setup:
    ldr     r1, =STACKS
    add     r1, r1, #{STACK_SIZE}
    mov     r2, #{STACK_SIZE}
    mla     r1, r4, r2, r1              @ r1 := top of this CPU's stack slot
    sub     r2, r1, #({STACK_SIZE} - 1024)
    cps     #0x17                       @ Abort mode
    mov     sp, r2
    cps     #0x1b                       @ Undefined mode
    mov     sp, r2
    cps     #0x13                       @ back to SVC
    mov     sp, r1
    ldr     r1, =payload_vectors
    mcr     p15, 0, r1, c12, c0, 0      @ VBAR
    mrc     p15, 0, r1, c1, c0, 0
    bic     r1, r1, #(1 << 13)          @ SCTLR.V = 0: vectors at VBAR
    mcr     p15, 0, r1, c1, c0, 0
    isb
    bx      lr

    .balign 32
payload_vectors:
    b       .                           @ reset
    b       unexpected                  @ undefined
    b       unexpected                  @ SVC
    b       prefetch_abort              @ prefetch abort
    b       data_abort                  @ data abort
    b       .
    b       unexpected                  @ IRQ
    b       unexpected                  @ FIQ

@ A data abort (the probes of hypfw's region): record it, return to the next instruction.
data_abort:
    push    {{r0-r3, r12, lr}}
    mrc     p15, 0, r0, c5, c0, 0       @ DFSR
    mrc     p15, 0, r1, c6, c0, 0       @ DFAR
    sub     r2, lr, #8                  @ faulting instruction
    bl      payload_record_abort
    pop     {{r0-r3, r12, lr}}
    subs    pc, lr, #4                  @ skip the faulting instruction

@ probe_fetch(r0 = target) -> r0 = IFAR: branch into memory that must not be fetchable; the
@ prefetch abort comes back to probe_resume. Callee-saved registers are kept on the SVC stack.
    .global probe_fetch
probe_fetch:
    push    {{r4-r11, lr}}
    ldr     r1, =probe_sp
    str     sp, [r1]
    blx     r0
    @ not reached: the fetch aborts
probe_resume:
    ldr     r1, =probe_sp
    ldr     sp, [r1]
    ldr     r1, =LAST_IFAR_COPY
    ldr     r0, [r1]
    pop     {{r4-r11, pc}}

prefetch_abort:
    mrc     p15, 0, r0, c5, c0, 1       @ IFSR
    mrc     p15, 0, r1, c6, c0, 2       @ IFAR
    ldr     r2, =LAST_IFAR_COPY
    str     r1, [r2]
    ldr     sp, =abt_scratch_top
    bl      payload_record_prefetch_abort
    ldr     lr, =probe_resume
    mov     r0, #0x1d3
    msr     spsr_cxsf, r0               @ back to SVC, interrupts masked, ARM
    movs    pc, lr

unexpected:
    mrs     r0, cpsr
    mov     r1, lr
    bl      payload_unexpected
4:  b       4b
    .ltorg

    .section .bss.probe, "aw", %nobits
    .balign 8
probe_sp:
    .space  4
LAST_IFAR_COPY:
    .space  4
abt_scratch:
    .space  256
abt_scratch_top:
