//! hypfw's built-in self-test payload. It runs in SVC mode under hypfw, with its MMU off, like the
//! first instructions of a Linux kernel, and checks from the payload's side what hypfw promises:
//! the HVC interface, the PSCI proxy (including its refusals), every CPU brought up and cycled
//! through CPU_OFF/CPU_ON, hypfw's memory out of reach, and SYSTEM_OFF. Every line it prints
//! starts with `payload: `; the last one gives the verdict.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use core::fmt::Write;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, Ordering};
use hypfw_core::platform::dtb::UartKind;
use hypfw_core::services::hvc;
use hypfw_core::services::psci as ids;
use smccc::psci::{self, AffinityState, LowestAffinityLevel};

/// PSCI by HVC rather than SMC: what the device tree's /psci says (hypfw describes "hvc" where
/// the platform has no SMC to trap, e.g. a CPU without the Security Extensions).
static PSCI_BY_HVC: AtomicBool = AtomicBool::new(false);

/// The PSCI conduit the device tree names, for `smccc`'s PSCI calls.
struct Psci;

impl smccc::Call for Psci {
    fn call32(function: u32, args: [u32; 7]) -> [u32; 8] {
        if PSCI_BY_HVC.load(Ordering::Relaxed) { smccc::hvc32(function, args) } else { smccc::smc32(function, args) }
    }
    fn call64(function: u32, args: [u64; 17]) -> [u64; 18] {
        let _ = (function, args);
        [u64::MAX; 18]
    }
}

fn psci_raw(function: u32, args: [u32; 7]) -> [u32; 8] {
    <Psci as smccc::Call>::call32(function, args)
}

const MAX_CPUS: usize = 8;
/// Per CPU; the device-tree reading and the hostile mode need over 6 KiB, and an overflow here
/// would corrupt the next CPU's stack silently (the MMU is off: no guard page).
const STACK_SIZE: usize = 16384;

core::arch::global_asm!(include_str!("entry.S"), STACK_SIZE = const STACK_SIZE);

#[unsafe(no_mangle)]
static mut STACKS: [[u8; STACK_SIZE]; MAX_CPUS] = [[0; STACK_SIZE]; MAX_CPUS];

/// Written by each secondary (its generation when up, 0 when leaving), read by cpu0. The MMU is
/// off, so every access goes to memory in program order: plain volatile words suffice.
static mut ONLINE: [u32; MAX_CPUS] = [0; MAX_CPUS];
/// Written by cpu0: 1 = go offline.
static mut COMMAND: [u32; MAX_CPUS] = [0; MAX_CPUS];
static mut ABORTS: u32 = 0;
static mut PABORTS: u32 = 0;
static mut LAST_IFSR: u32 = 0;
static mut LAST_IFAR: u32 = 0;
static mut LAST_DFSR: u32 = 0;
static mut LAST_DFAR: u32 = 0;
static mut UART_BASE: usize = 0;
/// The console's kind (written with UART_BASE).
static mut UART_KIND: UartKind = UartKind::Unsupported;

unsafe extern "C" {
    fn _secondary();
    /// Branch to `target`; returns the IFAR of the prefetch abort that must follow.
    fn probe_fetch(target: u32) -> u32;
}

struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // SAFETY: a plain word cpu0 wrote once before any secondary ran.
        let base = unsafe { read_volatile(&raw const UART_BASE) };
        if base == 0 {
            return Ok(());
        }
        let ptr = core::ptr::NonNull::new(base as *mut u8).unwrap();
        // SAFETY: a plain value cpu0 wrote once (with UART_BASE) before any secondary ran.
        let kind = unsafe { read_volatile(&raw const UART_KIND) };
        // SAFETY: UART_BASE is the console UART of that kind from the device tree, identity
        // mapped (MMU off) as device memory by stage 2. Each CPU makes its own short-lived driver
        // for whole lines; the UART's FIFO serialises the bytes, so overlapping writers cost at
        // worst interleaved characters, never memory safety.
        let u = unsafe {
            match kind {
                UartKind::Pl011 => Some(hypfw_uart::Uart::pl011(ptr)),
                _ => hypfw_uart::Uart::with_regs(kind, hypfw_uart::Mmio::new(ptr)),
            }
        };
        if let Some(mut u) = u
            && !u.write_text(s.as_bytes())
        {
            // The UART took no byte within the drivers' bound: no console from now on (the
            // verdict still reaches a test host through semihosting).
            // SAFETY: a plain word; a racing CPU at worst writes one more line's wait.
            unsafe { write_volatile(&raw mut UART_BASE, 0) };
        }
        Ok(())
    }
}

macro_rules! say {
    ($($a:tt)*) => {{ let _ = writeln!($crate::Console, "payload: {}", format_args!($($a)*)); }};
}

mod bench;
mod fwcfg;
/// `payload.hostile` in the bootargs: what a hostile payload would try (hostile.rs).
mod hostile;

struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    fn check(&mut self, what: &str, ok: bool, detail: core::fmt::Arguments) {
        if ok {
            self.passed += 1;
            say!("{what}: ok ({detail})");
        } else {
            self.failed += 1;
            say!("{what}: FAILED ({detail})");
        }
    }
}

fn be32(v: &[u8], i: usize) -> u64 {
    u32::from_be_bytes([v[i], v[i + 1], v[i + 2], v[i + 3]]) as u64
}

struct Platform {
    cpus: [u32; MAX_CPUS],
    ncpus: usize,
    hypfw: (u64, u64),
    /// GIC distributor and CPU interface.
    gic: Option<(usize, usize)>,
    cycles: u32,
    /// hypfw was booted with `hypfw.handover=allow`: HYPFW_TEARDOWN may hand HYP over.
    handover: bool,
    /// The tree describes PSCI by SMC (so CPU_ON must work).
    psci: bool,
    /// `payload.misbehave=WHAT`: instead of the checks, do what a broken payload would
    /// (`vectors-in-hypfw`, `last-cpu-off`), for hypfw to show what it does then.
    misbehave: Option<Misbehave>,
    /// RAM banks of /memory, as many as fit, and how many overlap hypfw's region (0 expected: a
    /// payload that reads only /memory must never meet the hole in its stage 2).
    ram_banks: usize,
    ram_over_hypfw: usize,
}

fn read_platform(dtb: usize) -> Option<Platform> {
    // SAFETY: hypfw passes its rewritten device tree in r2 (Linux boot protocol), a valid blob in
    // RAM that nothing writes while the payload runs; from_ptr reads only its totalsize bytes.
    let fdt = unsafe { fdt::Fdt::from_ptr(dtb as *const u8) }.ok()?;
    // The console as hypfw reads it (stdout-path, aliases, every parent's ranges), driven with
    // hypfw's own drivers; a UART hypfw does not know is taken for a PL011, as QEMU's is under
    // any name.
    // SAFETY: the same blob, `total_size` bytes as its (already checked) header says.
    let blob = unsafe { core::slice::from_raw_parts(dtb as *const u8, fdt.total_size()) };
    if let Ok(d) = hypfw_core::platform::dtb::describe(blob)
        && let Some(c) = d.platform.console
    {
        let kind = if c.kind == UartKind::Unsupported { UartKind::Pl011 } else { c.kind };
        // SAFETY: single writer, before any secondary runs.
        unsafe {
            write_volatile(&raw mut UART_KIND, kind);
            write_volatile(&raw mut UART_BASE, c.base as usize);
        }
    }
    let mut p = Platform {
        cpus: [0; MAX_CPUS],
        ncpus: 0,
        hypfw: (0, 0),
        gic: None,
        cycles: 24,
        handover: false,
        psci: false,
        misbehave: None,
        ram_banks: 0,
        ram_over_hypfw: 0,
    };
    for c in fdt.find_node("/cpus")?.children().filter(|c| c.name.starts_with("cpu@")) {
        if p.ncpus < MAX_CPUS {
            p.cpus[p.ncpus] = be32(c.property("reg")?.value, 0) as u32;
            p.ncpus += 1;
        }
    }
    p.hypfw = fdt
        .find_node("/reserved-memory")?
        .children()
        .find(|n| n.name.starts_with("hypfw@"))
        .and_then(|n| n.reg()?.next())
        .map(|r| (r.starting_address as u64, r.size.unwrap_or(0) as u64))?;
    if let Some(n) = fdt.chosen().bootargs().and_then(|a| a.split(' ').find_map(|w| w.strip_prefix("payload.cycles=")))
    {
        p.cycles = n.parse().unwrap_or(p.cycles);
    }
    if let Ok(d) = hypfw_core::platform::dtb::describe(blob) {
        let (base, size) = p.hypfw;
        p.ram_banks = d.platform.ram().len();
        p.ram_over_hypfw = d.platform.ram().iter().filter(|r| r.base < base + size && base < r.end()).count();
    }
    p.gic = hypfw_core::platform::dtb::describe(blob)
        .ok()
        .and_then(|d| d.platform.gic)
        .map(|g| (g.dist.0 as usize, g.cpu.0 as usize));
    p.handover = fdt.chosen().bootargs().is_some_and(|a| a.split(' ').any(|w| w == "hypfw.handover=allow"));
    p.misbehave =
        match fdt.chosen().bootargs().and_then(|a| a.split(' ').find_map(|w| w.strip_prefix("payload.misbehave="))) {
            Some("vectors-in-hypfw") => Some(Misbehave::VectorsInHypfw),
            Some("last-cpu-off") => Some(Misbehave::LastCpuOff),
            _ => None,
        };
    let node = fdt.find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]);
    // CPUs can be started when the tree has PSCI by SMC, or by HVC where hypfw says PSCI starts
    // the CPUs (`enable-method = "psci"` on each: hypfw starts them itself through the SoC's
    // release mailbox); PSCI by HVC with no CPU saying so means hypfw cannot start them.
    let by_hvc = node.and_then(|n| n.property("method")).and_then(|m| m.as_str()) == Some("hvc");
    let cpus_say_psci = fdt.cpus().all(|c| c.property("enable-method").and_then(|m| m.as_str()) == Some("psci"));
    p.psci = node.is_some() && (!by_hvc || cpus_say_psci);
    PSCI_BY_HVC.store(by_hvc, Ordering::Relaxed);
    Some(p)
}

fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..50_000_000u32 {
        if f() {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

fn online(cpu: usize) -> u32 {
    // SAFETY: an aligned word of a static array (in bounds: cpu < MAX_CPUS), written by that CPU
    // with plain volatile stores; the MMU is off, so both sides see memory in program order.
    unsafe { read_volatile(&raw const ONLINE[cpu]) }
}

fn aff(mpidr: u32) -> Result<AffinityState, psci::error::Error> {
    psci::affinity_info_32::<Psci>(mpidr, LowestAffinityLevel::All)
}

#[unsafe(no_mangle)]
extern "C" fn payload_main(dtb: usize) -> ! {
    let p = read_platform(dtb);
    let mode = cpsr() & 0x1F;
    say!("started on cpu0 in {} mode, device tree at {dtb:#x}", if mode == 0x13 { "SVC" } else { "an unexpected" });
    let Some(p) = p else {
        say!("FAILED: cannot read the device tree (cpus, /reserved-memory/hypfw@)");
        let _ = psci::system_off::<Psci>();
        halt()
    };
    let mut c = Checks { passed: 0, failed: 0 };
    c.check("mode", mode == 0x13, format_args!("CPSR {:#x}", cpsr()));
    say!("{} CPUs, hypfw region {:#x}..{:#x}", p.ncpus, p.hypfw.0, p.hypfw.0 + p.hypfw.1);
    match p.misbehave {
        Some(Misbehave::VectorsInHypfw) => vectors_in_hypfw(&p),
        Some(Misbehave::LastCpuOff) => last_cpu_off(),
        None => {}
    }
    if let Some(o) = hostile::requested(dtb) {
        hostile::run(&mut c, &p, &o, dtb);
        finish(c)
    }
    c.check(
        "/memory leaves hypfw's region out",
        p.ram_banks > 0 && p.ram_over_hypfw == 0,
        format_args!(
            "{} RAM bank(s), {} overlapping {:#x}..{:#x}",
            p.ram_banks,
            p.ram_over_hypfw,
            p.hypfw.0,
            p.hypfw.0 + p.hypfw.1
        ),
    );
    check_hvc_interface(&mut c);
    check_psci_proxy(&mut c, &p);
    check_cpus_up_and_cycled(&mut c, &p);
    check_hypfw_out_of_reach(&mut c, &p);
    fwcfg::check(&mut c, dtb, p.hypfw);
    check_handover(&mut c, &p);
    // An SMC only where /psci says "smc" (PSCI by HVC may mean the CPU has no SMC at all).
    let by_smc = p.psci && !PSCI_BY_HVC.load(Ordering::Relaxed);
    bench::exits(p.hypfw.0 as u32 + 0x1000, (&raw const ABORTS) as u32, by_smc);
    finish(c)
}

#[derive(Clone, Copy)]
enum Misbehave {
    VectorsInHypfw,
    LastCpuOff,
}

/// A payload that turns its only running CPU off (PSCI CPU_OFF): nothing runs after that, and
/// hypfw must say so rather than go quiet. Coming back here is a failure.
fn last_cpu_off() -> ! {
    say!("CPU_OFF of the only running CPU: hypfw must say that nothing runs now");
    let v = psci_raw(ids::CPU_OFF, [0; 7])[0] as i32;
    say!("FAILED: CPU_OFF of the only running CPU came back ({v})");
    let _ = psci::system_off::<Psci>();
    halt()
}

/// A payload whose exception vectors are where it cannot fetch them (here: hypfw's region) and
/// that then faults: the abort hypfw injects would enter a vector whose fetch faults again, for
/// ever. hypfw must stop with its reason instead; coming back here is a failure.
fn vectors_in_hypfw(p: &Platform) -> ! {
    let vbar = p.hypfw.0 as u32;
    say!("VBAR := {vbar:#x} (hypfw's region), then a read there: hypfw must stop with its reason");
    // SAFETY: only this payload's own vector base changes; what follows is meant to fault.
    unsafe { core::arch::asm!("mcr p15, 0, {}, c12, c0, 0", "isb", in(reg) vbar) };
    // SAFETY: a read of hypfw's region, which stage 2 leaves out: it aborts (and must not return).
    let v = unsafe { read_volatile(vbar as *const u32) };
    say!("FAILED: the read of hypfw's region with the vectors there came back ({v:#x})");
    let _ = psci::system_off::<Psci>();
    halt()
}

/// The hypfw HVC interface.
fn check_hvc_interface(c: &mut Checks) {
    let v = smccc::hvc32(hvc::HYPFW_VERSION, [0; 7])[0];
    c.check("HVC HYPFW_VERSION", v == 1, format_args!("{v:#x}"));
    let v = smccc::hvc32(hvc::SMCCC_VERSION, [0; 7])[0];
    c.check("HVC SMCCC_VERSION", v == 0x1_0001, format_args!("{v:#x}"));
    let v = smccc::hvc32(hvc::fast32(hvc::OWNER_VENDOR_HYP, 0x1234), [0; 7])[0];
    c.check("HVC unknown function", v == u32::MAX, format_args!("{v:#x}"));
}

/// The PSCI proxy, and its refusals.
fn check_psci_proxy(c: &mut Checks, p: &Platform) {
    let v = psci_raw(ids::PSCI_VERSION, [0; 7])[0];
    c.check("PSCI_VERSION", v == 0x1_0000, format_args!("{v:#x}"));
    let v = psci::psci_features::<Psci>(ids::CPU_ON);
    if p.psci {
        c.check("PSCI_FEATURES(CPU_ON)", v == Ok(0), format_args!("{v:?}"));
    } else {
        // No /psci in the tree hypfw gave: it has no way to start CPUs, and must say so.
        let refused = v == Err(psci::error::Error::NotSupported);
        c.check("PSCI_FEATURES(CPU_ON) without /psci: not supported", refused, format_args!("{v:?}"));
        // Nor a way to put a CPU anywhere: CPU_OFF is refused, not carried out into a fatal stop.
        let v = psci::psci_features::<Psci>(ids::CPU_OFF);
        let off = psci_raw(ids::CPU_OFF, [0; 7])[0] as i32;
        c.check(
            "CPU_OFF without /psci: denied",
            v == Err(psci::error::Error::NotSupported) && off == -3,
            format_args!("PSCI_FEATURES {v:?}, CPU_OFF {off}"),
        );
    }
    let v = psci::psci_features::<Psci>(ids::CPU_SUSPEND);
    c.check("PSCI_FEATURES(CPU_SUSPEND)", v == Ok(0), format_args!("{v:?}"));
    if let Some((gicd, gicc)) = p.gic {
        let (ok, detail) = suspend_until_timer(gicd, gicc);
        c.check("CPU_SUSPEND (standby) until the physical timer fires", ok, format_args!("{detail}"));
    }
    let v = psci_raw(ids::MIGRATE_INFO_TYPE, [0; 7])[0];
    c.check("MIGRATE_INFO_TYPE", v == 2, format_args!("{v}"));
    check_actlr(c);
    if !p.psci {
        return;
    }
    let entry = _secondary as *const () as u32;
    let v = psci::cpu_on_32::<Psci>(0xFF, entry, 1);
    c.check(
        "CPU_ON of a CPU that does not exist",
        v == Err(psci::error::Error::InvalidParameters),
        format_args!("{v:?}"),
    );
    let v = psci::cpu_on_32::<Psci>(p.cpus[0], entry, 0);
    c.check("CPU_ON of the running CPU", v == Err(psci::error::Error::AlreadyOn), format_args!("{v:?}"));
    if p.ncpus > 1 {
        let v = psci::cpu_on_32::<Psci>(p.cpus[1], p.hypfw.0 as u32, 1);
        c.check("CPU_ON into hypfw's region", v == Err(psci::error::Error::InvalidAddress), format_args!("{v:?}"));
    }
}

/// Every CPU up, then offline/online cycles through the secondaries.
/// ACTLR belongs to hypfw (HCR.TAC): a write that flips SMP (clearing it on a board, where it is
/// set; setting it under QEMU, which reads 0) changes nothing the payload can read back. hypfw
/// logs the ignored write, which the scenarios expect.
fn check_actlr(c: &mut Checks) {
    let read = || {
        let v: u32;
        // SAFETY: a read of ACTLR (trapped to hypfw, which answers with the real value).
        unsafe { core::arch::asm!("mrc p15, 0, {}, c1, c0, 1", out(reg) v) };
        v
    };
    let before = read();
    // SAFETY: a write of ACTLR, which hypfw ignores; were it carried out, clearing SMP on one CPU
    // of a running system is exactly what this check proves cannot happen.
    unsafe { core::arch::asm!("mcr p15, 0, {}, c1, c0, 1", "isb", in(reg) before ^ (1 << 6)) };
    let after = read();
    c.check("ACTLR write flipping SMP has no effect", after == before, format_args!("{before:#x} -> {after:#x}"));
}

fn check_cpus_up_and_cycled(c: &mut Checks, p: &Platform) {
    if !p.psci {
        say!("no /psci in the device tree: {} other CPU(s) stay off", p.ncpus - 1);
        return;
    }
    let entry = _secondary as *const () as u32;
    // The secondaries that came up: a CPU that did not (its check failed) is not cycled, where
    // each wait for it would only time out.
    let (mut up, mut nup) = ([0usize; MAX_CPUS], 0);
    for i in 1..p.ncpus {
        let r = psci::cpu_on_32::<Psci>(p.cpus[i], entry, i as u32);
        let on = r.is_ok() && wait_until(|| online(i) != 0);
        c.check("CPU_ON", on, format_args!("cpu{i} (MPIDR {:#x}): {r:?}", p.cpus[i]));
        if r.is_err() {
            // Refused: the CPU did not start, and PSCI must not say it runs.
            let a = aff(p.cpus[i]);
            c.check("AFFINITY_INFO after a failed CPU_ON", a == Ok(AffinityState::Off), format_args!("cpu{i}: {a:?}"));
        }
        if !on {
            continue;
        }
        up[nup] = i;
        nup += 1;
        let a = aff(p.cpus[i]);
        c.check("AFFINITY_INFO after CPU_ON", a == Ok(AffinityState::On), format_args!("cpu{i}: {a:?}"));
    }

    if nup > 0 {
        let mut ok = 0;
        for k in 0..p.cycles {
            let i = up[k as usize % nup];
            // SAFETY: cpu0 is the only writer of COMMAND, and i < ncpus <= MAX_CPUS indexes it.
            unsafe { write_volatile(&raw mut COMMAND[i], 1) };
            sev();
            let off = wait_until(|| aff(p.cpus[i]) == Ok(AffinityState::Off));
            let on =
                off && psci::cpu_on_32::<Psci>(p.cpus[i], entry, i as u32).is_ok() && wait_until(|| online(i) != 0);
            if !on {
                say!("cycle {k}: cpu{i} {}", if off { "did not come back" } else { "did not go off" });
                break;
            }
            ok += 1;
        }
        c.check("CPU_OFF/CPU_ON cycles", ok == p.cycles, format_args!("{ok} of {} cycles", p.cycles));
    }
}

/// hypfw's memory is out of reach: each access aborts (stage 2), nothing is read, written or run.
fn check_hypfw_out_of_reach(c: &mut Checks, p: &Platform) {
    for (what, write) in [("read of hypfw's region", false), ("write to hypfw's region", true)] {
        let before = aborts();
        let target = (p.hypfw.0 + 0x1000) as *mut u32;
        let mut got = 0;
        if write {
            // SAFETY: hypfw's region is not this payload's memory: the write must abort at stage
            // 2, and the data-abort handler skips it, so nothing is written.
            unsafe { write_volatile(target, 0xDEAD_BEEF) };
        } else {
            // SAFETY: as for the write: the read aborts and the handler skips the LDR. Written as
            // one LDR into a register that holds 0 before it, so that a skipped load leaves 0
            // whatever the compiler would have made of `read_volatile` (a debug build kept
            // whatever that register held).
            unsafe {
                core::arch::asm!("ldr {v}, [{a}]", v = inout(reg) 0u32 => got, a = in(reg) target, options(nostack));
            }
        }
        // SAFETY: plain words the data-abort handler of this CPU (the only one probing) wrote.
        let (fsr, far) = unsafe { (read_volatile(&raw const LAST_DFSR), read_volatile(&raw const LAST_DFAR)) };
        let n = aborts();
        c.check(
            what,
            n == before + 1 && far == target as u32 && got == 0,
            format_args!("external abort, DFSR {fsr:#x}, DFAR {far:#x}"),
        );
    }

    // Instruction fetch from hypfw's region: a prefetch abort, injected as an external abort.
    {
        let before = prefetch_aborts();
        // SAFETY: branches into memory hypfw must refuse; the prefetch abort handler returns to
        // the continuation stored in PABORT_RESUME.
        let ifar = unsafe { probe_fetch(p.hypfw.0 as u32 + 0x2000) };
        // SAFETY: a plain word the prefetch-abort handler of this CPU wrote.
        let ifsr = unsafe { read_volatile(&raw const LAST_IFSR) };
        let n = prefetch_aborts();
        c.check(
            "instruction fetch from hypfw's region",
            n == before + 1 && ifar == p.hypfw.0 as u32 + 0x2000,
            format_args!("prefetch abort, IFSR {ifsr:#x}, IFAR {ifar:#x}"),
        );
    }
}

/// Hand HYP back (kexec-style) and take it again: HYPFW_TEARDOWN leaves this CPU as hypfw found
/// it (only a stub answers HVCs, no stage 2), HYPFW_REINIT runs the dual-step init again. That
/// gives the payload the whole machine, so hypfw refuses it (DENIED) unless it was booted with
/// hypfw.handover=allow and every other CPU is off.
fn check_handover(c: &mut Checks, p: &Platform) {
    let others_on = (1..p.ncpus).filter(|&i| online(i) != 0).count();
    if !p.handover || others_on > 0 {
        let v = smccc::hvc32(hvc::HYPFW_TEARDOWN, [0; 7])[0];
        c.check(
            "HYPFW_TEARDOWN refused while not allowed or other CPUs run",
            v == ids::DENIED,
            format_args!("{v:#x}, hypfw.handover=allow {}, {others_on} other CPU(s) on", p.handover),
        );
        let v = smccc::hvc32(hvc::HYPFW_VERSION, [0; 7])[0];
        c.check("HVC HYPFW_VERSION after the refusal", v == 1, format_args!("{v:#x}"));
        return;
    }
    let v = smccc::hvc32(hvc::HYPFW_TEARDOWN, [0; 7])[0];
    c.check("HYPFW_TEARDOWN", v == 0, format_args!("{v:#x}"));
    let v = smccc::hvc32(hvc::HYPFW_VERSION, [0; 7])[0];
    c.check("HVC while torn down: only the stub answers", v == u32::MAX, format_args!("{v:#x}"));
    let v = smccc::hvc32(hvc::HYPFW_REINIT, [0; 7])[0];
    c.check("HYPFW_REINIT", v == 0, format_args!("{v:#x}"));
    let v = smccc::hvc32(hvc::HYPFW_VERSION, [0; 7])[0];
    c.check("HVC HYPFW_VERSION after re-init", v == 1, format_args!("{v:#x}"));
    {
        let before = aborts();
        // SAFETY: hypfw's region again: now that stage 2 is back the read must abort, and the
        // data-abort handler skips it.
        let _ = unsafe { read_volatile((p.hypfw.0 + 0x1000) as *const u32) };
        let n = aborts();
        c.check(
            "hypfw's region out of reach again after re-init",
            n == before + 1,
            format_args!("{} abort(s)", n - before),
        );
    }
}

/// Data aborts taken so far (written by the data-abort handler).
fn aborts() -> u32 {
    // SAFETY: a plain word only the data-abort handler writes, on the CPU that runs the probes.
    unsafe { read_volatile(&raw const ABORTS) }
}

/// Prefetch aborts taken so far (written by the prefetch-abort handler).
fn prefetch_aborts() -> u32 {
    // SAFETY: a plain word only the prefetch-abort handler writes, on the CPU that runs the probes.
    unsafe { read_volatile(&raw const PABORTS) }
}

fn finish(c: Checks) -> ! {
    if c.failed == 0 {
        say!("all {} checks passed", c.passed);
    } else {
        say!("{} of {} checks FAILED", c.failed, c.passed + c.failed);
    }
    say!("powering off with PSCI SYSTEM_OFF");
    let r = psci::system_off::<Psci>();
    say!("SYSTEM_OFF returned {r:?}");
    halt()
}

#[unsafe(no_mangle)]
extern "C" fn payload_secondary(cpu: usize) -> ! {
    static mut GENERATION: [u32; MAX_CPUS] = [0; MAX_CPUS];
    // SAFETY: each CPU touches only its own entries; cpu0 reads ONLINE and writes COMMAND.
    unsafe {
        let g = read_volatile(&raw const GENERATION[cpu]) + 1;
        write_volatile(&raw mut GENERATION[cpu], g);
        if g == 1 {
            say!("cpu{cpu} up in {} mode", if cpsr() & 0x1F == 0x13 { "SVC" } else { "an unexpected" });
        }
        write_volatile(&raw mut ONLINE[cpu], g);
        while read_volatile(&raw const COMMAND[cpu]) == 0 {
            core::arch::asm!("wfe");
        }
        write_volatile(&raw mut COMMAND[cpu], 0);
        write_volatile(&raw mut ONLINE[cpu], 0);
    }
    let r = psci::cpu_off::<Psci>();
    say!("cpu{cpu}: CPU_OFF returned {r:?}");
    halt()
}

#[unsafe(no_mangle)]
extern "C" fn payload_record_abort(dfsr: u32, dfar: u32, _pc: u32) {
    // SAFETY: plain words, written only here, and only the CPU running the probes takes data
    // aborts: no other access races these stores.
    unsafe {
        write_volatile(&raw mut LAST_DFSR, dfsr);
        write_volatile(&raw mut LAST_DFAR, dfar);
        write_volatile(&raw mut ABORTS, read_volatile(&raw const ABORTS) + 1);
    }
}

#[unsafe(no_mangle)]
extern "C" fn payload_record_prefetch_abort(ifsr: u32, ifar: u32) {
    // SAFETY: plain words, written only here, and only the CPU running the probes takes
    // prefetch aborts: no other access races these stores.
    unsafe {
        write_volatile(&raw mut LAST_IFSR, ifsr);
        write_volatile(&raw mut LAST_IFAR, ifar);
        write_volatile(&raw mut PABORTS, read_volatile(&raw const PABORTS) + 1);
    }
}

#[unsafe(no_mangle)]
extern "C" fn payload_unexpected(cpsr: u32, lr: u32) -> ! {
    say!("FAILED: unexpected exception (CPSR {cpsr:#x}, LR {lr:#x})");
    let _ = psci::system_off::<Psci>();
    halt()
}

fn cpsr() -> u32 {
    let v: u32;
    // SAFETY: MRS only copies CPSR into a register.
    unsafe { core::arch::asm!("mrs {}, cpsr", out(reg) v) };
    v
}

fn sev() {
    // SAFETY: a barrier and an event signal: no memory is read or written.
    unsafe { core::arch::asm!("dsb", "sev") };
}

#[panic_handler]
fn panic(i: &core::panic::PanicInfo) -> ! {
    say!("FAILED: panic: {}", i.message());
    let _ = psci::system_off::<Psci>();
    halt()
}

fn halt() -> ! {
    loop {
        // SAFETY: WFI only waits for an interrupt; no memory or register changes.
        unsafe { core::arch::asm!("wfi") };
    }
}

/// CPU_SUSPEND as a standby: arm the physical timer 1 ms ahead with its PPI (30) enabled in the
/// GIC but IRQs masked here, suspend, and expect to come back with the timer fired. Everything is
/// switched off again afterwards. Returns (passed, what was seen).
fn suspend_until_timer(gicd: usize, gicc: usize) -> (bool, impl core::fmt::Display) {
    const PPI_TIMER: u32 = 30;
    let reg = |base: usize, off: usize| (base + off) as *mut u32;
    // SAFETY: the GIC's registers from the device tree, identity mapped by stage 2 (the payload
    // owns the GIC); the physical timer is PL1's (CNTHCTL.PL1PCEN). IRQs stay masked in CPSR.
    unsafe {
        write_volatile(reg(gicd, 0x000), 1); // GICD_CTLR: forward
        write_volatile(reg(gicd, 0x100), 1 << PPI_TIMER); // GICD_ISENABLER0
        write_volatile(reg(gicc, 0x004), 0xF0); // GICC_PMR
        write_volatile(reg(gicc, 0x000), 1); // GICC_CTLR: signal
        let frq: u32;
        core::arch::asm!("mrc p15, 0, {}, c14, c0, 0", out(reg) frq); // CNTFRQ
        core::arch::asm!("mcr p15, 0, {}, c14, c2, 0", in(reg) frq / 1000); // CNTP_TVAL
        core::arch::asm!("mcr p15, 0, {}, c14, c2, 1", "isb", in(reg) 1u32); // CNTP_CTL: enable
    }
    let r = psci_raw(ids::CPU_SUSPEND, [0, 0, 0, 0, 0, 0, 0])[0];
    let ctl: u32;
    // SAFETY: the same GIC registers and PL1 timer as above, switched off again.
    unsafe {
        core::arch::asm!("mrc p15, 0, {}, c14, c2, 1", out(reg) ctl);
        core::arch::asm!("mcr p15, 0, {}, c14, c2, 1", "isb", in(reg) 0u32);
        write_volatile(reg(gicd, 0x180), 1 << PPI_TIMER); // GICD_ICENABLER0
        write_volatile(reg(gicc, 0x000), 0);
        write_volatile(reg(gicd, 0x000), 0);
    }
    let fired = ctl & 0b100 != 0; // CNTP_CTL.ISTATUS
    struct Seen(u32, bool);
    impl core::fmt::Display for Seen {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "returned {:#x}, timer fired {}", self.0, self.1)
        }
    }
    (r == 0 && fired, Seen(r, fired))
}
