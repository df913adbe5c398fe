@ The bare image's self-test at PL1 (src/runtime/selftest.rs): a few routines run in SVC with the
@ PL1 MMU off, at their physical addresses, through the runtime's world switch. They talk to the
@ harness with HVC immediates: #0 an SMCCC call (r0-r3), #1 "report" (the harness reads the
@ registers), #2 an exception at PL1 (r0 = vector number).

    .syntax unified
    .arm
    .arch armv7-a
    .arch_extension virt

    .section .text.selftest_pl1, "ax"

@ Each round: the call in r0-r3 (HVC #0, as any SMCCC caller), then HVC #1 hands the results back.
    .global hypfw_pl1_stub
    .type hypfw_pl1_stub, %function
hypfw_pl1_stub:
1:  hvc     #0
    hvc     #1
    b       1b
    .size hypfw_pl1_stub, . - hypfw_pl1_stub

@ A secondary entry for the self-test that arrives the way a CPU whose HYP state was not cleaned
@ would: D- and I-cache left on (MMU off), then the ordinary init page entry. r0 = CPU index
@ (PSCI context id), kept. The runtime must notice and report it (PerCpu::dirty_entries).
    .global hypfw_dirty_entry
    .type hypfw_dirty_entry, %function
hypfw_dirty_entry:
    cp15    mrc, r1, HSCTLR
    orr     r1, r1, #{CTRL_C}
    orr     r1, r1, #{HSCTLR_I}
    cp15    mcr, r1, HSCTLR             @ C and I on, as a careless predecessor left them
    isb
    b       hyp_init_entry
    .size hypfw_dirty_entry, . - hypfw_dirty_entry

@ The teardown test driven from PL1: r4 cycles of HYPFW_TEARDOWN (fid in r5), then a call the runtime
@ would answer (r7) that the torn-down stub must refuse with NOT_SUPPORTED, then HYPFW_REINIT
@ (fid in r6); then HVC #1 with r4 = cycles left, r0 = the last result (0 when all went well).
    .global hypfw_pl1_teardown
    .type hypfw_pl1_teardown, %function
hypfw_pl1_teardown:
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
    .size hypfw_pl1_teardown, . - hypfw_pl1_teardown

@ The benchmark: r4 round trips of HVC #0 with the function ID in r5, then HVC #1.
    .global hypfw_pl1_bench
    .type hypfw_pl1_bench, %function
hypfw_pl1_bench:
1:  mov     r0, r5
    hvc     #0
    subs    r4, r4, #1
    bne     1b
    hvc     #1
    b       hypfw_pl1_bench
    .size hypfw_pl1_bench, . - hypfw_pl1_bench

@ The baseline for the benchmark: the same loop without the call.
    .global hypfw_pl1_bench_base
    .type hypfw_pl1_bench_base, %function
hypfw_pl1_bench_base:
1:  mov     r0, r5
    nop
    subs    r4, r4, #1
    bne     1b
    hvc     #1
    b       hypfw_pl1_bench_base
    .size hypfw_pl1_bench_base, . - hypfw_pl1_bench_base

@ PL1 vectors for the self-test: any exception there is reported to HYP with HVC #2 and
@ r0 = the vector number, instead of running into whatever the bootloader left.
    .balign 32
    .global hypfw_pl1_vectors
    .type hypfw_pl1_vectors, %function
hypfw_pl1_vectors:
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7
    b       pl1_vector_\n
    .endr
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7
pl1_vector_\n:
    mov     r0, #\n
    hvc     #2
    .endr
    .size hypfw_pl1_vectors, . - hypfw_pl1_vectors
