//! The resident HYP runtime: entered by every CPU at its runtime VA from phase 2 of the init page,
//! with the runtime page table live, its own guarded stack, HTPIDR = its per-CPU data and HVBAR =
//! the runtime vectors.

pub mod exceptions;
pub mod guest;
pub mod hotplug;
pub mod init;
pub mod payload;
pub mod selftest;

use crate::arch::{self, regs};
use crate::{fatal, log};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use hypfw::layout::{MAX_CPUS, RUNTIME_VA};
use init::{BOOT_INFO, BootInfo, PhaseEvidence};

/// Per-CPU runtime state, reached through HTPIDR without a lock.
#[repr(C, align(64))]
pub struct PerCpu {
    pub index: u32,
    /// Times this CPU came through the init page into the runtime.
    pub inits: AtomicU32,
    /// Times it left through hyp_teardown.
    pub teardowns: AtomicU32,
    /// HVC calls it served.
    pub hvcs: AtomicU32,
    /// Times it arrived at the init page with HYP state it should not have had.
    pub dirty_entries: AtomicU32,
    /// A command from the boot CPU (hotplug::CMD_*).
    pub cmd: AtomicU32,
    /// CNTPCT when it last became ready in the runtime.
    pub ready_at: AtomicU64,
    /// The payload's view of this CPU, and where CPU_ON asked it to start.
    pub power: hypfw::psci::CpuPower,
    pub payload_entry: AtomicU32,
    pub payload_context: AtomicU32,
    /// SMCs (PSCI calls) and stage-2 aborts taken from the payload.
    pub smcs: AtomicU32,
    pub s2_aborts: AtomicU32,
}

pub static PERCPU: [PerCpu; MAX_CPUS] = {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: PerCpu = PerCpu {
        index: 0,
        inits: AtomicU32::new(0),
        teardowns: AtomicU32::new(0),
        hvcs: AtomicU32::new(0),
        dirty_entries: AtomicU32::new(0),
        cmd: AtomicU32::new(0),
        ready_at: AtomicU64::new(0),
        power: hypfw::psci::CpuPower::new(),
        payload_entry: AtomicU32::new(0),
        payload_context: AtomicU32::new(0),
        smcs: AtomicU32::new(0),
        s2_aborts: AtomicU32::new(0),
    };
    let mut a = [INIT; MAX_CPUS];
    let mut i = 0;
    while i < MAX_CPUS {
        a[i].index = i as u32;
        i += 1;
    }
    a
};

pub fn percpu_addr(cpu: usize) -> usize {
    &PERCPU[cpu] as *const PerCpu as usize
}

/// This CPU's per-CPU data (from HTPIDR, set by phase 2).
pub fn this_cpu() -> &'static PerCpu {
    let p = regs::read::<regs::HtpidrRaw>() as usize;
    // SAFETY: phase 2 set HTPIDR to an element of PERCPU for this CPU.
    unsafe { &*(p as *const PerCpu) }
}

pub fn boot_info() -> &'static BootInfo {
    // SAFETY: written once by the boot CPU before any CPU entered the runtime; read-only after.
    #[allow(clippy::deref_addrof)] // a reference to a `static mut` must go through a raw pointer
    match unsafe { &*(&raw const BOOT_INFO) } {
        Some(b) => b,
        None => fatal!("runtime entered without boot information"),
    }
}

/// HYP configuration every CPU needs before it runs anything at PL1.
fn cpu_init() {
    // SAFETY: HYP-only registers; values per ARM DDI 0406C B4.1: no traps yet (HCR = 0: no stage 2
    // and interrupts stay with PL1), PL1 may use the physical timer, CNTVOFF = 0, VPIDR/VMPIDR
    // show the real CPU to PL1.
    unsafe {
        regs::write::<regs::HcrRaw>(0);
        regs::write::<regs::HstrRaw>(0);
        regs::write::<regs::HcptrRaw>(0);
        let hdcr = regs::read::<regs::HdcrRaw>();
        regs::write::<regs::HdcrRaw>(hdcr & 0x1F);
        regs::write::<regs::CnthctlRaw>(0b11);
        regs::write64::<regs::CntvoffRaw>(0);
        regs::write::<regs::VpidrRaw>(arch::midr());
        regs::write::<regs::VmpidrRaw>(arch::mpidr());
    }
}

/// The runtime VA of runtime code/data at `va`, as a physical address.
pub fn va_to_pa(va: usize) -> u64 {
    boot_info().region_pa + (va as u64 - RUNTIME_VA as u64)
}

/// Once, on the boot CPU's first arrival: the console at its runtime VA, locking, the heap.
fn runtime_init_once(bi: &BootInfo) {
    if let (true, Some(c)) = (bi.console_va != 0, bi.platform.console) {
        // SAFETY: the runtime table maps the console at console_va (device, XN).
        unsafe { crate::console::install(c.kind, bi.console_va as usize) };
    }
    crate::console::enable_locking();
    // The platform's PSCI can power off only when hypfw is not the PSCI provider itself.
    crate::stop::PSCI_OFF_AVAILABLE.store(bi.cpu_control == init::CpuControl::Psci, Ordering::Relaxed);
    let heap = (RUNTIME_VA as u64 + bi.layout.heap_off) as usize as *mut u8;
    // SAFETY: the heap range is mapped RW in the runtime table and used by nothing else.
    unsafe { crate::heap::HEAP.init_runtime(heap, hypfw::layout::HEAP_SIZE as usize) };
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

/// Bytes of the runtime heap in use (for the leak check across cycles).
pub fn heap_used() -> usize {
    crate::heap::HEAP.runtime_used()
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
    let (htcr, hsctlr) = (regs::read::<regs::Htcr>(), regs::read::<regs::HsctlrRaw>());
    if htcr != hypfw::pgtable::HTCR || hsctlr != crate::boot::HSCTLR_RUNTIME {
        fatal!(
            "cpu{cpu}: HTCR {htcr:#x} / HSCTLR {hsctlr:#x} after phase 2, expected {:#x} / {:#x}",
            hypfw::pgtable::HTCR,
            crate::boot::HSCTLR_RUNTIME
        );
    }
    (regs::read::<regs::HvbarRaw>(), httbr)
}

fn log_placement(bi: &BootInfo) {
    log!(
        "runtime: entered from {}, image loaded at {:#010x}, runtime at {:#x} (PA {:#x}), {} of {} page-table pool pages used",
        match bi.entry_mode {
            init::EntryMode::NsHyp => "Non-secure HYP",
            init::EntryMode::SecureSvc => "Secure SVC",
        },
        bi.load_addr,
        RUNTIME_VA,
        bi.region_pa,
        bi.pool_pages_used,
        hypfw::layout::POOL_PAGES
    );
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
    me.ready_at.store(now, Ordering::Release);
    let n = me.inits.fetch_add(1, Ordering::AcqRel) + 1;
    let t1 = (ev.t_phase1[1] as u64) << 32 | ev.t_phase1[0] as u64;
    let t2 = (ev.t_phase2[1] as u64) << 32 | ev.t_phase2[0] as u64;
    if first {
        log!(
            "cpu{cpu} phase1 done (boot pgd {:#x}, HSCTLR {:#010x}, MMU on at the identity map)",
            bi.boot_pgd,
            ev.phase1_hsctlr
        );
        log!(
            "cpu{cpu} phase2 done (runtime pgd {httbr:#x} via trampoline {:#010x}, HVBAR {hvbar:#010x})",
            hypfw::layout::TRAMPOLINE_VA
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
            log!(
                "cpu{cpu} runtime ready (MPIDR {:#x}, CNTPCT ticks phase1->ready {})",
                arch::mpidr(),
                now.wrapping_sub(t1)
            );
        }
    } else if n.is_multiple_of(25) {
        log!(
            "cpu{cpu} back in the runtime through phase 1/2 (init #{n}, phase1->ready {} ticks)",
            now.wrapping_sub(t1)
        );
    }
    if bi.payload.is_some() {
        if let Some(ctx) = hotplug::take_resumed_guest(cpu as usize) {
            payload::resume(bi, ctx)
        }
        if cpu == 0 && first {
            log_placement(bi);
            payload::start_boot_cpu(bi)
        }
        payload::start_secondary(bi, cpu as usize)
    }
    if cpu == 0 {
        if first {
            log_placement(bi);
            selftest::run(bi)
        }
        if let Some(ctx) = hotplug::take_resumed_guest(cpu as usize) {
            selftest::guest_resumed(bi, ctx)
        }
        selftest::resume(bi)
    }
    hotplug::secondary_idle()
}
