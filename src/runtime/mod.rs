//! The resident HYP runtime: entered by every CPU at its runtime VA from phase 2 of the init page,
//! with the runtime page table live, its own guarded stack, HTPIDR = its per-CPU data and HVBAR =
//! the runtime vectors. Rooms: this file (the entry and per-CPU set-up), [`world`] (the switch to
//! PL1 and back), [`exits`] (the payload's exits), [`fwcfg`] (QEMU fw_cfg's registers, carried out
//! for the payload), [`hotplug`] (starting, stopping, re-initialising CPUs), [`exceptions`]
//! (anything unexpected in HYP), [`selftest`] (the bare image's own test).

mod access;
mod exceptions;
mod exits;
mod fwcfg;
mod hotplug;
mod release;
mod selftest;
mod world;

use crate::arch::{self, regs};
use crate::shared::{BOOT_INFO, BootInfo, CpuControl, EntryMode, PERCPU, PerCpu, PhaseEvidence};
use crate::{detail, fatal, log};
use core::sync::atomic::{AtomicU32, Ordering};
use hypfw_core::abi;
use hypfw_core::abi::bits::{ACTLR_SMP, CNTHCTL_EVENT_STREAM, CNTHCTL_PL1_TIMER, HDCR_HPMN, HSCTLR_RUNTIME};
use hypfw_core::mm::layout::{self, MAX_CPUS};
use hypfw_core::mm::pgtable;

/// This CPU's per-CPU data (from HTPIDR, set by phase 2).
pub fn this_cpu() -> &'static PerCpu {
    let p = regs::read::<regs::Htpidr>() as usize;
    // SAFETY: phase 2 set HTPIDR to this CPU's element of PERCPU (checked against the index on
    // every entry), a static that lives forever and is only used through atomics.
    unsafe { &*(p as *const PerCpu) }
}

pub fn boot_info() -> &'static BootInfo {
    #[allow(clippy::deref_addrof)] // a reference to a `static mut` must go through a raw pointer
    // SAFETY: written once, by the boot phase, before any CPU entered the runtime; nothing writes
    // it afterwards, so shared references to it never alias a write.
    match unsafe { &*(&raw const BOOT_INFO) } {
        Some(b) => b,
        None => fatal!("runtime entered without boot information"),
    }
}

/// HYP configuration every CPU needs before it runs anything at PL1.
fn cpu_init() {
    // SAFETY: HYP-only registers, which only configure what PL1 may do: nothing runs at PL1 on
    // this CPU yet. Values per ARM DDI 0406C B4.1: no traps (HCR = 0: no stage 2, interrupts stay
    // with PL1), PL1 may use the physical timer, CNTVOFF = 0, VPIDR/VMPIDR show the real CPU.
    // One ISB for the batch: none of these affects the HYP code that runs until it.
    unsafe {
        regs::write_batched::<regs::Hcr>(0);
        regs::write_batched::<regs::Hstr>(0);
        regs::write_batched::<regs::Hcptr>(0);
        let hdcr = regs::read::<regs::Hdcr>();
        regs::write_batched::<regs::Hdcr>(hdcr & HDCR_HPMN);
        regs::write_batched::<regs::Cnthctl>(CNTHCTL_PL1_TIMER | CNTHCTL_EVENT_STREAM);
        regs::write64_batched::<regs::CntVoff>(0);
        regs::write_batched::<regs::Vpidr>(arch::midr());
        regs::write_batched::<regs::Vmpidr>(arch::mpidr());
    }
    arch::isb();
}

/// The physical address of runtime code or data at the runtime VA `va`.
pub fn va_to_pa(va: usize) -> u64 {
    let bi = boot_info();
    bi.region_pa + (va as u64 - bi.layout.va(0).0 as u64)
}

/// Count one more of an event the payload can repeat at will, and say whether it gets a console
/// line: the first 16 and every 256th after (the count is in the line), so that a payload cannot
/// fill the console, or hold its lock, with one message.
pub fn worth_a_line(count: &AtomicU32) -> Option<u32> {
    let n = count.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
    (n <= 16 || n.is_multiple_of(256)).then_some(n)
}

/// Once, on the boot CPU's first arrival: the console at its runtime VA, locking, power-off policy.
#[cold]
#[inline(never)]
fn runtime_init_once(bi: &BootInfo) {
    // This copy of the image began as the boot copy, console state included (a physical address
    // the runtime table does not map): install the console at its runtime VA, or none.
    match bi.platform.console.filter(|_| bi.console_va != 0) {
        // SAFETY: only the boot CPU runs hypfw code (the secondaries start later); the runtime
        // table maps the console at console_va as device memory, for the life of the system.
        Some(c) => unsafe {
            crate::drivers::console::install(c.kind, bi.console_va as usize);
        },
        // SAFETY: only the boot CPU runs hypfw code.
        None => unsafe { crate::drivers::console::uninstall() },
    }
    crate::drivers::console::enable_locking();
    // The init page set ACTLR.SMP on this CPU (as on every CPU) before its caches came on; where it
    // reads 0 the write was ignored, and the CPUs' caches are not kept coherent.
    if arch::actlr() & ACTLR_SMP == 0 {
        log!(
            "warning: ACTLR.SMP does not set (the Secure firmware left NSACR.NS_SMP clear, or QEMU's CPU ignores \
             it): the CPUs' data caches may not be coherent"
        );
    }
    // The platform's PSCI can power off only when hypfw is not the PSCI provider itself.
    crate::base::stop::PSCI_OFF_AVAILABLE.store(bi.cpu_control == CpuControl::Psci, Ordering::Relaxed);
    // Without it, Versatile Express powers off and resets through its own registers, in the page
    // the runtime maps for a payload (that of SYS_FLAGS).
    if let Some(r) = bi.payload.as_ref().and_then(|p| p.cpu_release)
        && r.block.kind == hypfw_core::platform::dtb::ReleaseKind::VexpressFlags
    {
        crate::base::stop::VEXPRESS_SYSREG.store(r.va, Ordering::Relaxed);
    }
}

/// One line per CPU with its counters.
pub fn report_cpus(bi: &BootInfo) {
    for (cpu, p) in PERCPU.iter().enumerate().take(bi.cpus.count) {
        log!(
            "  cpu{cpu}: {} inits, {} teardowns, {} HVCs, {} SMCs (PSCI), {} stage-2 aborts, {} dirty arrivals",
            p.inits.load(Ordering::Relaxed),
            p.teardowns.load(Ordering::Relaxed),
            p.hvcs.load(Ordering::Relaxed),
            p.smcs.load(Ordering::Relaxed),
            p.s2_aborts.load(Ordering::Relaxed),
            p.dirty_entries.load(Ordering::Relaxed)
        );
    }
}

/// The stacks' high-water marks: the boot stack's (taken as the boot phase ended) and every
/// runtime stack's so far (each painted by the boot phase; a re-initialised CPU starts on the same
/// stack, so the mark covers every arrival).
pub fn report_stacks(bi: &BootInfo) -> bool {
    // SAFETY: written once by the boot phase before any CPU entered the runtime.
    let boot = unsafe { core::ptr::read_volatile(&raw const crate::shared::BOOT_STACK_PEAK) };
    let mut max = 0;
    let mut marks = [0u64; MAX_CPUS];
    for (cpu, m) in marks.iter_mut().enumerate().take(bi.cpus.count) {
        let bottom = bi.layout.stack_bottom(cpu).0 as usize as *const u32;
        let words = (layout::STACK_SIZE / 4) as usize;
        // SAFETY: the mapped stack of `cpu` (STACK_SIZE bytes from its bottom, RW in the runtime
        // table); only read, word by word, volatile (another CPU may be running on it).
        *m = layout::stack_high_water(
            layout::STACK_SIZE,
            (0..words).map(|i| unsafe { bottom.add(i).read_volatile() }),
            layout::STACK_PAINT,
        );
        max = max.max(*m);
    }
    // The runtime stacks are sized at twice the deepest use measured: more than half used means
    // the margin is gone, and the size needs a new measurement. The boot stack is painted only in
    // its lowest part (abi::BOOT_STACK_WATCH): a boot phase that reached into it came that close
    // to overflowing.
    let runtime_ok = max * 2 <= layout::STACK_SIZE;
    let boot_ok = abi::boot_stack_clear(boot);
    log!(
        "stack high-water: boot {}{boot} of {} bytes{}; runtime {max} of {} bytes (per CPU {}): {}",
        if boot_ok { "at most " } else { "" },
        abi::BOOT_STACK_SIZE,
        if boot_ok { " (its watched lowest part untouched)" } else { ", into its watched lowest part" },
        layout::STACK_SIZE,
        crate::drivers::console::List(&marks[..bi.cpus.count], crate::drivers::console::Radix::Dec),
        match (runtime_ok, boot_ok) {
            (true, true) => "within half, ok",
            (false, _) => "runtime stack more than half used: FAILED (the stack sizes need a new measurement)",
            (true, false) => "boot stack close to overflowing: FAILED (the boot stack needs to grow)",
        }
    );
    runtime_ok && boot_ok
}

/// Check what the init page observed against what must hold; stops on a mismatch.
fn check_phases(cpu: u32, bi: &BootInfo, ev: &PhaseEvidence) -> (u32, u64) {
    let boot_lo = bi.boot_pgd as u32;
    if ev.phase1_httbr_lo != boot_lo || ev.phase1_hsctlr & 1 == 0 {
        fatal!(
            "cpu{cpu}: phase 1 read back HTTBR {:#x} / HSCTLR {:#x}, expected boot pgd {:#x} with the MMU on",
            ev.phase1_httbr_lo,
            ev.phase1_hsctlr,
            boot_lo
        );
    }
    let httbr = regs::read64::<regs::Httbr>();
    if httbr != bi.runtime_pgd {
        fatal!("cpu{cpu}: HTTBR is {httbr:#x} after phase 2, expected the runtime pgd {:#x}", bi.runtime_pgd);
    }
    let (htcr, hsctlr) = (regs::read::<regs::Htcr>(), regs::read::<regs::Hsctlr>());
    if htcr != pgtable::HTCR || hsctlr != HSCTLR_RUNTIME.bits() {
        fatal!(
            "cpu{cpu}: HTCR {htcr:#x} / HSCTLR {hsctlr:#x} after phase 2, expected {:#x} / {:#x}",
            pgtable::HTCR,
            HSCTLR_RUNTIME.bits()
        );
    }
    (regs::read::<regs::Hvbar>(), httbr)
}

fn log_placement(bi: &BootInfo) {
    detail!(
        "runtime: entered from {}, image loaded at {:#010x}, runtime at {:#x} (PA {:#x}), {} of {} page-table pool pages used",
        match bi.entry_mode {
            EntryMode::NsHyp => "Non-secure HYP",
            EntryMode::SecureSvc => "Secure SVC",
        },
        bi.load_addr,
        bi.layout.va(0).0,
        bi.region_pa,
        bi.pool_pages_used,
        bi.layout.pool_pages
    );
}

/// The milestone lines of a CPU's arrival in the runtime (every 25th re-arrival after the first).
#[inline(never)]
fn report_arrival(cpu: u32, bi: &BootInfo, ev: &PhaseEvidence, (hvbar, httbr): (u32, u64), now: u64, n: u32) {
    let first = n == 1;
    let t1 = (ev.t_phase1[1] as u64) << 32 | ev.t_phase1[0] as u64;
    let t2 = (ev.t_phase2[1] as u64) << 32 | ev.t_phase2[0] as u64;
    if first {
        detail!(
            "cpu{cpu} phase1 done (boot pgd {:#x}, HSCTLR {:#010x}, MMU on at the identity map)",
            bi.boot_pgd,
            ev.phase1_hsctlr
        );
        detail!(
            "cpu{cpu} phase2 done (runtime pgd {httbr:#x} via trampoline {:#010x}, HVBAR {hvbar:#010x})",
            layout::TRAMPOLINE_VA
        );
        if cpu == 0 {
            log!(
                "cpu0 runtime ready (CNTPCT ticks: entry->phase1 {}, phase1->phase2 {}, entry->ready {} at {} Hz)",
                t1.wrapping_sub(bi.entry_time),
                t2.wrapping_sub(t1),
                now.wrapping_sub(bi.entry_time),
                bi.cntfrq
            );
        } else {
            detail!(
                "cpu{cpu} runtime ready (MPIDR {:#x}, CNTPCT ticks phase1->ready {})",
                arch::mpidr(),
                now.wrapping_sub(t1)
            );
        }
    } else if n.is_multiple_of(25) {
        detail!(
            "cpu{cpu} back in the runtime through phase 1/2 (init #{n}, phase1->ready {} ticks)",
            now.wrapping_sub(t1)
        );
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn hypfw_runtime_entry(cpu: u32, ev: &PhaseEvidence) -> ! {
    let bi = boot_info();
    let me = &PERCPU[cpu as usize % MAX_CPUS];
    let first = me.inits.load(Ordering::Relaxed) == 0;
    if cpu == 0 && first {
        runtime_init_once(bi);
        hotplug::settle_pen();
    }
    if cpu as usize >= MAX_CPUS || !core::ptr::eq(this_cpu(), me) {
        fatal!("cpu{cpu}: HTPIDR does not point at this CPU's per-CPU data");
    }
    let (hvbar, httbr) = check_phases(cpu, bi, ev);
    if ev.entry_hsctlr & 0b101 != 0 {
        me.dirty_entries.fetch_add(1, Ordering::Relaxed);
        log!(
            "cpu{cpu}: arrived at the init page with HSCTLR {:#010x} (MMU or D-cache on): HYP state was not cleaned before",
            ev.entry_hsctlr
        );
    }
    cpu_init();
    let now = arch::cntpct();
    me.ready_at.store(now as u32, Ordering::Relaxed); // published by the inits increment
    let n = me.inits.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
    // The boot CPU may be waiting for this arrival in WFE (hotplug::wait_until).
    arch::sev();
    report_arrival(cpu, bi, ev, (hvbar, httbr), now, n);
    if bi.payload.is_some() {
        if let Some(ctx) = hotplug::take_resumed_caller(cpu as usize) {
            exits::resume(bi, ctx)
        }
        if cpu == 0 && first {
            log_placement(bi);
            exits::start_boot_cpu(bi)
        }
        exits::start_secondary(bi, cpu as usize)
    }
    if cpu == 0 {
        if first {
            log_placement(bi);
            selftest::run(bi)
        }
        if let Some(ctx) = hotplug::take_resumed_caller(cpu as usize) {
            selftest::caller_resumed(bi, ctx)
        }
        selftest::resume(bi)
    }
    hotplug::secondary_idle()
}
