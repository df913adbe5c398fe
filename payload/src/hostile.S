@ The hostile mode's assembly (payload/src/hostile.rs): one SMCCC call with every register the
@ caller owns set to a sentinel and read back, and the entry of the secondaries it starts.
    .syntax unified
    .arm
    .arch armv7-a
    .arch_extension virt
    .arch_extension sec

@ hostile_call(r0 = &Frame): one call through the frame's conduit with r0-r12, SP, LR (SVC), SP_usr,
@ LR_usr and the CPSR flags (NZCVQ, GE) as the frame gives them, then every one of them, and the
@ CPSR, stored back into the frame as the call left them. Frame layout (hostile.rs, #[repr(C)]):
@     0 conduit (0 HVC #0, 1 SMC #0, 2 HVC #1, 3 HVC #0xFFFF, 4 HVC #0x5A5A)
@     4 r0-r12 in, 56 SP, 60 LR, 64 SP_usr, 68 LR_usr, 72 flags
@    76 r0-r12 out, 128 SP, 132 LR, 136 SP_usr, 140 LR_usr, 144 CPSR
@ While the call runs, SP and LR are sentinels: nothing may take an exception to SVC (IRQs and
@ FIQs are masked; an abort goes to Abort mode, which has its own SP). Afterwards FIQ mode's banked
@ r8/r9 (FIQs never come: masked, and nothing routes one) hold r0 and the CPSR until the frame's
@ address is back in a register.
    .section .text.hostile_call, "ax"
    .global hostile_call
    .type hostile_call, %function
hostile_call:
    push    {{r4-r11, lr}}
    ldr     r1, =hostile_call_state
    str     sp, [r1]                    @ state[0] := the real SP
    str     r0, [r1, #4]                @ state[1] := the frame
    ldr     r1, [r0, #64]
    msr     sp_usr, r1
    ldr     r1, [r0, #68]
    msr     lr_usr, r1
    ldr     r2, [r0, #72]               @ r2 := flags, set by the slot (after the compares)
    ldr     r1, [r0]
    cmp     r1, #1
    beq     hc_smc0
    cmp     r1, #2
    beq     hc_hvc1
    cmp     r1, #3
    beq     hc_hvcffff
    cmp     r1, #4
    beq     hc_hvc5a5a
    @ conduit 0 (and anything else): HVC #0

.macro hc_slot insn
    msr     cpsr_fs, r2                 @ NZCVQ and GE as the frame says
    ldr     sp, [r0, #56]
    ldr     lr, [r0, #60]
    add     r0, r0, #4
    ldm     r0, {{r0-r12}}              @ base in the list, no writeback: r0 is loaded last
    \insn
    b       hc_after
.endm

hc_hvc0:    hc_slot "hvc #0"
hc_smc0:    hc_slot "smc #0"
hc_hvc1:    hc_slot "hvc #1"
hc_hvcffff: hc_slot "hvc #0xffff"
hc_hvc5a5a: hc_slot "hvc #0x5a5a"

hc_after:
    msr     r8_fiq, r0                  @ r0 as the call left it
    mrs     r0, cpsr                    @ before anything can change the flags
    msr     r9_fiq, r0
    ldr     r0, =hostile_call_state
    ldr     r0, [r0, #4]
    add     r0, r0, #80                 @ r0 := &out r1
    stm     r0, {{r1-r12}}
    mrs     r1, r8_fiq
    str     r1, [r0, #-4]               @ out r0
    str     sp, [r0, #48]               @ 128
    str     lr, [r0, #52]               @ 132
    mrs     r1, sp_usr
    str     r1, [r0, #56]               @ 136
    mrs     r1, lr_usr
    str     r1, [r0, #60]               @ 140
    mrs     r1, r9_fiq
    str     r1, [r0, #64]               @ 144 CPSR
    ldr     r1, =hostile_call_state
    ldr     sp, [r1]
    pop     {{r4-r11, pc}}
    .ltorg
    .size hostile_call, . - hostile_call

@ hostile_secondary: the entry of the CPUs the hostile mode starts (r0 = context id = logical CPU
@ index, SVC, MMU off). A stack slot of its own, then hostile_secondary_main, which marks the CPU
@ online and sleeps in WFI (no vCPU spinning in WFE while cpu0 works).
    .section .text.hostile_secondary, "ax"
    .global hostile_secondary
    .type hostile_secondary, %function
hostile_secondary:
    cmp     r0, #{MAX_CPUS}
    bhs     2f
    ldr     r1, =STACKS
    mov     r2, #{STACK_SIZE}
    mla     r1, r0, r2, r1
    add     sp, r1, #{STACK_SIZE}
    b       hostile_secondary_main
2:  wfi
    b       2b
    .ltorg
    .size hostile_secondary, . - hostile_secondary

    .section .bss.hostile_call, "aw", %nobits
    .balign 4
hostile_call_state:
    .space  8
