//! The boot CPU's self-test, until a payload is booted: real HVCs from SVC mode through the
//! runtime's trap vector, the world switch and the SMCCC dispatcher, checked against what the
//! interface promises; then a side-by-side benchmark of the null call; then power off.
//!
//! The PL1 side is a few instructions of assembly (boot/selftest_pl1.S) run in SVC with the PL1
//! MMU off and no stage 2 (HCR.VM = 0), at their physical address: the self-test's "stub".

use super::hotplug;
use super::world::{self, Pl1Context};
use crate::arch::{self, regs};
use crate::drivers::console::{List, Radix};
use crate::drivers::mmio;
use crate::shared::{BootInfo, CpuControl, PERCPU};
use crate::{fatal, log};
use core::sync::atomic::{AtomicU32, Ordering};
use hypfw_core::abi::bits::{SPSR_SVC_MASKED, Sctlr};
use hypfw_core::abi::teardown;
use hypfw_core::mm::layout::{GUARD_SIZE, MAX_CPUS, STACK_SLOT};
use hypfw_core::platform::options::SelfTest;
use hypfw_core::services::hsr::{self, Hsr};
use hypfw_core::services::hvc;

unsafe extern "C" {
    fn hypfw_pl1_stub();
    fn hypfw_pl1_teardown();
    fn hypfw_pl1_bench();
    fn hypfw_pl1_bench_base();
    fn hypfw_pl1_vectors();
    fn hypfw_dirty_entry();
}

/// HVC immediates the self-test stub uses besides #0 (an SMCCC call).
const IMM_REPORT: u16 = 1;
const IMM_PL1_EXCEPTION: u16 = 2;

fn pa_of(f: unsafe extern "C" fn()) -> u32 {
    super::va_to_pa(f as *const () as usize) as u32
}

/// Handle one trap from the stub the way the runtime handles a payload's: HVC #0 goes to the
/// SMCCC dispatcher, results back in r0-r3. Returns the HVC immediate for the harness's own
/// calls, or stops on anything else.
fn handle_exit(ctx: &mut Pl1Context, h: Hsr) -> Option<u16> {
    match h.hvc_imm() {
        Some(0) => {
            super::this_cpu().hvcs.fetch_add(1, Ordering::Relaxed);
            match hvc::dispatch([ctx.r[0], ctx.r[1], ctx.r[2], ctx.r[3]], 0) {
                hvc::Action::Return(out) => ctx.r[..4].copy_from_slice(&out),
                hvc::Action::Teardown => hotplug::teardown_to_caller(ctx),
            }
            None
        }
        Some(IMM_PL1_EXCEPTION) => {
            fatal!("self-test stub took exception vector {:#x} at PL1 (LR {:#x})", ctx.r[0] * 4, ctx.lr_usr)
        }
        Some(imm) => Some(imm),
        None => fatal!("self-test stub trapped with {} (HSR {:#010x}) at {:#x}", h.ec_name(), h.0, ctx.elr),
    }
}

/// Run the stub until it reports with HVC #1.
fn run_until_report(ctx: &mut Pl1Context) {
    loop {
        // SAFETY: the context runs hypfw's own stub in SVC with interrupts masked; HCR = 0, so it
        // reaches what PL1 with the MMU off reaches, which the self-test accepts: no payload runs.
        let h = unsafe { world::run(ctx) };
        if h.ec() != hsr::EC_HVC {
            fatal!("self-test stub trapped with {} (HSR {:#010x}) at {:#x}", h.ec_name(), h.0, ctx.elr);
        }
        if handle_exit(ctx, h) == Some(IMM_REPORT) {
            return;
        }
    }
}

fn prepare_pl1() {
    // SAFETY: Non-secure PL1 registers, which HYP's own translation does not use: PL1 MMU and
    // caches off, low vectors at the stub's vector table (every entry reports with HVC #2).
    unsafe {
        let sctlr = regs::read::<regs::Sctlr>();
        regs::write::<regs::Sctlr>(sctlr & !(Sctlr::M | Sctlr::C | Sctlr::V).bits());
        regs::write::<regs::Vbar>(pa_of(hypfw_pl1_vectors));
    }
}

struct Case {
    name: &'static str,
    args: [u32; 4],
    expect: [u32; 4],
}

/// Self-test progress that must survive the boot CPU's own teardown/re-init cycles (each
/// re-init arrives at the runtime entry on a fresh stack).
static REINITS_LEFT: AtomicU32 = AtomicU32::new(0);
static FAILED: AtomicU32 = AtomicU32::new(0);
/// Cycles the stub-driven HYPFW_TEARDOWN/HYPFW_REINIT test asked for (0 = not running).
static PL1_TEARDOWN_CYCLES: AtomicU32 = AtomicU32::new(0);

fn hvc_checks() -> u32 {
    prepare_pl1();
    let cases = [
        Case { name: "SMCCC_VERSION", args: [hvc::SMCCC_VERSION, 0, 0, 0], expect: [hvc::SMCCC_VERSION_1_1, 0, 0, 0] },
        Case {
            name: "SMCCC_ARCH_FEATURES(SMCCC_VERSION)",
            args: [hvc::SMCCC_ARCH_FEATURES, hvc::SMCCC_VERSION, 0, 0],
            expect: [0, 0, 0, 0],
        },
        Case { name: "HYPFW_VERSION", args: [hvc::HYPFW_VERSION, 0, 0, 0], expect: [hvc::HYPFW_API_VERSION, 0, 0, 0] },
        Case { name: "HYPFW_NULL", args: [hvc::HYPFW_NULL, 0x1111, 0x2222, 0x3333], expect: [0, 0, 0, 0] },
        Case { name: "HYPFW_CALL_UID", args: [hvc::HYPFW_CALL_UID, 0, 0, 0], expect: hvc::HYPFW_UID },
        Case { name: "unknown function", args: [0x8600_1234, 5, 6, 7], expect: [hvc::NOT_SUPPORTED, 0, 0, 0] },
        Case { name: "SMC64 function ID", args: [0xC600_0000, 0, 0, 0], expect: [hvc::NOT_SUPPORTED, 0, 0, 0] },
    ];
    let mut failed = 0;
    let hvcs_before = super::this_cpu().hvcs.load(Ordering::Relaxed);
    for c in &cases {
        let mut ctx = Pl1Context { elr: pa_of(hypfw_pl1_stub), spsr: SPSR_SVC_MASKED, ..Default::default() };
        ctx.r[..4].copy_from_slice(&c.args);
        ctx.r[12] = 0x5A5A_0012;
        run_until_report(&mut ctx);
        let got = [ctx.r[0], ctx.r[1], ctx.r[2], ctx.r[3]];
        if got == c.expect && ctx.r[12] == 0x5A5A_0012 {
            log!("self-test: HVC {} from SVC -> {:#x}: ok", c.name, got[0]);
        } else {
            log!(
                "self-test: HVC {} from SVC -> {} (r12 {:#x}), expected {}: FAILED",
                c.name,
                List(&got, Radix::BareHex),
                ctx.r[12],
                List(&c.expect, Radix::BareHex)
            );
            failed += 1;
        }
    }
    let hvcs = super::this_cpu().hvcs.load(Ordering::Relaxed) - hvcs_before;
    if hvcs != cases.len() as u32 {
        log!("self-test: per-CPU HVC count went up by {hvcs}, expected {}: FAILED", cases.len());
        failed += 1;
    }
    failed
}

/// A device access carried out for the payload that faults in HYP (here: at a VA the runtime
/// table leaves unmapped, as a device's error would) returns to its caller, as the payload's abort,
/// instead of stopping hypfw (`hypfw_mmio_read`/`_write` and the data-abort vector).
fn device_error_check() {
    const UNMAPPED: usize = 0x1000; // the runtime table maps nothing below its HYP VAs
    // SAFETY: nothing is mapped at UNMAPPED in the runtime table: both accesses fault, and the
    // data-abort vector resumes them at their fault exit.
    let (read, written) = unsafe { (mmio::read(UNMAPPED, 4), mmio::write(UNMAPPED, 2, [0x5A; 4])) };
    if read.is_none() && !written {
        log!("self-test: a device access that faults in HYP returns to its caller (a read, a write): ok");
    } else {
        log!("self-test: a device access at an unmapped VA did not fault ({read:?}, {written}): FAILED");
        FAILED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Bring every CPU of the device tree up; returns how many came up.
fn bring_up(bi: &BootInfo) -> usize {
    let mut up = 1;
    for cpu in 1..bi.cpus.count {
        match hotplug::cpu_on(cpu) {
            Ok(()) => up += 1,
            Err(e) => {
                log!("cpu{cpu} did not come up: {e}");
                FAILED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    log!("smp: {up} of {} CPUs in the runtime ({:?})", bi.cpus.count, bi.cpu_control);
    up
}

/// Offline/online cycles spread round-robin over the secondaries that are up.
fn hotplug_cycles(bi: &BootInfo, cycles: u32) {
    // The secondaries that came up, which need not be 1..n: one in the middle may have failed.
    let mut up = [0usize; MAX_CPUS];
    let mut online = 0;
    for c in (1..bi.cpus.count).filter(|&c| PERCPU[c].inits.load(Ordering::Acquire) > 0) {
        up[online] = c;
        online += 1;
    }
    if online == 0 || cycles == 0 {
        log!("hotplug: no secondary CPU to cycle");
        return;
    }
    for i in 0..cycles {
        let cpu = up[i as usize % online];
        if let Err(e) = hotplug::cpu_off(cpu) {
            log!("hotplug: cycle {i}: cpu{cpu} did not go offline: {e}");
            FAILED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Err(e) = hotplug::cpu_on(cpu) {
            log!("hotplug: cycle {i}: cpu{cpu} did not come back: {e}");
            FAILED.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    log!("hotplug: {cycles} offline/online cycles over {online} secondary CPU(s) passed");
}

/// A CPU that comes back to the init page with HYP state it should not have (here: caches left
/// on) must be noticed and reported, and still come up cleanly through phase 1/2.
fn dirty_arrival_check(bi: &BootInfo) {
    let cpu = 1;
    if bi.cpu_control != CpuControl::Psci || PERCPU[cpu].inits.load(Ordering::Acquire) == 0 {
        return;
    }
    let before = PERCPU[cpu].dirty_entries.load(Ordering::Acquire);
    let r = hotplug::cpu_off(cpu).and_then(|()| hotplug::cpu_on_at(cpu, pa_of(hypfw_dirty_entry)));
    let after = PERCPU[cpu].dirty_entries.load(Ordering::Acquire);
    match r {
        Ok(()) if after == before + 1 => {
            log!("self-test: cpu{cpu} came back with its HYP caches on: detected, reported and re-initialised: ok")
        }
        _ => {
            log!(
                "self-test: cpu{cpu} came back with its HYP caches on: {}, dirty arrivals {before} -> {after}: FAILED",
                Outcome(&r)
            );
            FAILED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub fn run(bi: &BootInfo) -> ! {
    FAILED.fetch_add(hvc_checks(), Ordering::Relaxed);
    device_error_check();
    let opts = bi.options;
    if bi.cpus.count > 1 && bi.cpu_control == CpuControl::None {
        log!("smp: no way to start the other {} CPU(s) (see above): SMP and hotplug checks skipped", bi.cpus.count - 1);
    } else if bi.cpus.count > 1 {
        bring_up(bi);
        hotplug_cycles(bi, opts.hotplug_cycles);
        dirty_arrival_check(bi);
    }
    if opts.hvc_teardown_cycles > 0 {
        // Driven from SVC: HYPFW_TEARDOWN returns to the stub with HYP in its entry state, and its
        // HYPFW_REINIT (answered by the init page's torn-down stub) brings the runtime back.
        log!("teardown-hvc: SVC guest tears HYP down and re-inits it {} times", opts.hvc_teardown_cycles);
        PL1_TEARDOWN_CYCLES.store(opts.hvc_teardown_cycles, Ordering::Relaxed);
        let mut ctx = Pl1Context { elr: pa_of(hypfw_pl1_teardown), spsr: SPSR_SVC_MASKED, ..Default::default() };
        ctx.r[4] = opts.hvc_teardown_cycles;
        ctx.r[5] = hvc::HYPFW_TEARDOWN;
        ctx.r[6] = hvc::HYPFW_REINIT;
        ctx.r[7] = hvc::HYPFW_VERSION;
        run_until_report(&mut ctx);
        teardown_test_done(&ctx);
    }
    start_reinit_cycles(bi)
}

/// The stub of the HYPFW_TEARDOWN test is back after a HYPFW_REINIT: keep running it.
pub fn caller_resumed(bi: &BootInfo, mut ctx: Pl1Context) -> ! {
    if PL1_TEARDOWN_CYCLES.load(Ordering::Relaxed) == 0 {
        fatal!("a PL1 caller asked for HYPFW_REINIT, but no teardown test driven from PL1 is running");
    }
    prepare_pl1();
    run_until_report(&mut ctx);
    teardown_test_done(&ctx);
    start_reinit_cycles(bi)
}

fn teardown_test_done(ctx: &Pl1Context) {
    let n = PL1_TEARDOWN_CYCLES.swap(0, Ordering::Relaxed);
    if ctx.r[4] != 0 || ctx.r[0] != 0 {
        log!("teardown-hvc: the stub stopped with {} cycles left, last result {:#x}: FAILED", ctx.r[4], ctx.r[0]);
        FAILED.fetch_add(1, Ordering::Relaxed);
    } else {
        log!("teardown-hvc: {n} HYPFW_TEARDOWN/HYPFW_REINIT cycles from SVC passed");
    }
}

fn start_reinit_cycles(bi: &BootInfo) -> ! {
    let opts = bi.options;
    if opts.reinit_cycles > 0 {
        log!("reinit: tearing cpu0 down and re-running the dual-step init {} times", opts.reinit_cycles);
        REINITS_LEFT.store(opts.reinit_cycles, Ordering::Relaxed);
        hotplug::teardown(teardown::REINIT)
    }
    finish(bi)
}

/// The boot CPU is back from a teardown/re-init cycle.
pub fn resume(bi: &BootInfo) -> ! {
    prepare_pl1();
    let left = REINITS_LEFT.fetch_sub(1, Ordering::Relaxed) - 1;
    if left > 0 {
        hotplug::teardown(teardown::REINIT)
    }
    log!("reinit: {} teardown/re-init cycles of cpu0 passed", bi.options.reinit_cycles);
    // The HVC path must work the same after the cycles.
    FAILED.fetch_add(hvc_checks(), Ordering::Relaxed);
    finish(bi)
}

fn finish(bi: &BootInfo) -> ! {
    log!("per-CPU counts:");
    super::report_cpus(bi);
    if !super::report_stacks(bi) {
        FAILED.fetch_add(1, Ordering::Relaxed);
    }
    // The boot phase built every table; the runtime allocates nothing (there is no heap).
    log!("memory: page pool {} of {} pages used, no heap", bi.pool_pages_used, bi.layout.pool_pages);
    let failed = FAILED.load(Ordering::Relaxed);
    if failed != 0 {
        fatal!("self-test failed: {failed} check(s) failed");
    }
    bench(bi);
    match bi.options.mode {
        SelfTest::Normal => {}
        SelfTest::StackOverflow => {
            log!("self-test: recursing in HYP until the stack guard page is hit (hypfw.selftest=stack-overflow)");
            recurse(0);
        }
        SelfTest::PushOverflow => {
            log!("self-test: pushing from 8 bytes above the stack guard page (hypfw.selftest=push-overflow)");
            let guard_top = (arch::sp() & !(STACK_SLOT as usize - 1)) + GUARD_SIZE as usize;
            arch::faults::push_at(guard_top + 8)
        }
        SelfTest::InitFault => {
            log!("self-test: cpu1 enters the init page as cpu{MAX_CPUS}");
            match hotplug::start_out_of_range(1) {
                Ok(()) => {
                    // cpu1 stops the machine from the init page; give it as long as a CPU gets
                    // to arrive.
                    let t0 = arch::cntpct();
                    let wait = hotplug::CPU_WAIT_SECONDS * bi.cntfrq.max(1_000_000) as u64;
                    while arch::cntpct().wrapping_sub(t0) < wait {
                        core::hint::spin_loop();
                    }
                    fatal!("init-fault: nothing stopped")
                }
                Err(e) => fatal!("init-fault: {e}"),
            }
        }
        SelfTest::Undefined => {
            log!("self-test: executing an undefined instruction in HYP (hypfw.selftest=undefined)");
            arch::faults::undefined();
        }
    }
    log!("self-test passed");
    crate::base::stop::success()
}

/// Round trips of the null call against the same PL1 loop without the call, side by side.
fn bench(bi: &BootInfo) {
    const N: u32 = 1000;
    let measure = |entry: unsafe extern "C" fn()| {
        let mut ctx = Pl1Context { elr: pa_of(entry), spsr: SPSR_SVC_MASKED, ..Default::default() };
        ctx.r[4] = N;
        ctx.r[5] = hvc::HYPFW_NULL;
        let t0 = arch::cntpct();
        run_until_report(&mut ctx);
        arch::cntpct() - t0
    };
    let base = measure(hypfw_pl1_bench_base);
    let calls = measure(hypfw_pl1_bench);
    log!("bench: hvc-null {N} round trips {calls} ticks, baseline loop {base} ticks, CNTFRQ {} Hz", bi.cntfrq);
    if bi.cpus.count > 1 && PERCPU[1].inits.load(Ordering::Acquire) > 0 {
        // Summed over several cycles: one cycle's CPU_ON is only about a dozen counter ticks, so
        // a single reading would carry most of a tick of rounding. The cycles would all round
        // alike, so each starts after a different delay (3 instructions a step, 16 steps: every
        // phase of the 16-instruction tick once), and the rounding averages out.
        const CYCLES: u64 = 16;
        let (mut on_ticks, mut cycle_ticks) = (0u64, 0u64);
        for i in 0..CYCLES {
            let t0 = arch::cntpct();
            let off = hotplug::cpu_off(1);
            arch::delay_steps(i as u32 + 1);
            let t_on = arch::cntpct();
            let on = hotplug::cpu_on(1);
            let t_end = arch::cntpct();
            if off.is_err() || on.is_err() {
                fatal!("bench: cpu1 hotplug cycle failed: off {}, on {}", Outcome(&off), Outcome(&on));
            }
            on_ticks += PERCPU[1].ready_at.load(Ordering::Acquire).wrapping_sub(t_on as u32) as u64;
            cycle_ticks += t_end - t0;
        }
        log!(
            "bench: cpu1 over {CYCLES} cycles: CPU_ON->runtime ready {on_ticks} ticks, offline+online cycle {cycle_ticks} ticks ({:?})",
            bi.cpu_control
        );
    }
}

/// Uses stack on every level so that the recursion really runs into the guard page.
#[allow(unconditional_recursion, clippy::only_used_in_recursion)] // the point: it ends in a fault
#[inline(never)]
fn recurse(depth: u32) -> u32 {
    let buf = core::hint::black_box([depth; 64]);
    recurse(depth + 1).wrapping_add(buf[depth as usize % 64])
}

/// A hotplug step's result for a console line (`ok` or the error), without `Result`'s debug
/// formatting.
struct Outcome<'a>(&'a Result<(), hotplug::CpuError>);

impl core::fmt::Display for Outcome<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Ok(()) => f.write_str("ok"),
            Err(e) => write!(f, "{e}"),
        }
    }
}
