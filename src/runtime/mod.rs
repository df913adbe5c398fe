//! The resident HYP runtime: entered by every CPU at its runtime VA from phase 2 of the init page,
//! with the runtime page table live, its own guarded stack, HTPIDR = its per-CPU data and HVBAR =
//! the runtime vectors.

pub mod exceptions;
pub mod guest;
pub mod init;
pub mod selftest;

use crate::arch::{self, regs};
use crate::{fatal, log};
use core::sync::atomic::{AtomicU32, Ordering};
use hypfw::layout::{MAX_CPUS, RUNTIME_VA};
use init::{BOOT_INFO, BootInfo, PhaseEvidence};

/// Per-CPU runtime state, reached through HTPIDR without a lock.
#[repr(C, align(64))]
pub struct PerCpu {
    pub index: u32,
    pub inits: AtomicU32,
    pub hvcs: AtomicU32,
}

static PERCPU: [PerCpu; MAX_CPUS] = {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: PerCpu = PerCpu { index: 0, inits: AtomicU32::new(0), hvcs: AtomicU32::new(0) };
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

#[global_allocator]
static HEAP: linked_list_allocator::LockedHeap = linked_list_allocator::LockedHeap::empty();

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
        regs::write::<regs::VpidrRaw>(regs::read::<regs::MidrRaw>());
        regs::write::<regs::VmpidrRaw>(arch::mpidr());
    }
}

/// The runtime VA of runtime code/data at `va`, as a physical address.
pub fn va_to_pa(va: usize) -> u64 {
    boot_info().region_pa + (va as u64 - RUNTIME_VA as u64)
}

#[unsafe(no_mangle)]
pub extern "C" fn hypfw_runtime_entry(cpu: u32, ev: &PhaseEvidence) -> ! {
    let bi = boot_info();
    if cpu == 0 {
        if let (true, Some(c)) = (bi.console_va != 0, bi.platform.console) {
            {
                // SAFETY: the runtime table maps the console at console_va (device, XN).
                unsafe { crate::console::install(c.kind, bi.console_va as usize) };
            }
        }
        crate::console::enable_locking();
        let heap = bi.layout.heap_off;
        // SAFETY: the heap range is mapped RW in the runtime table and used by nothing else.
        unsafe { HEAP.lock().init((RUNTIME_VA as u64 + heap) as usize as *mut u8, hypfw::layout::HEAP_SIZE as usize) };
    }
    let me = this_cpu();
    if me as *const PerCpu as usize != percpu_addr(cpu as usize) {
        fatal!("cpu{cpu}: HTPIDR does not point at this CPU's per-CPU data");
    }
    me.inits.fetch_add(1, Ordering::Relaxed);

    // Milestones, from what the init page saw and what the registers say now.
    let boot_lo = bi.boot_pgd as u32;
    if ev.phase1_httbr_lo != boot_lo || ev.phase1_hsctlr & 1 == 0 {
        fatal!(
            "cpu{cpu}: phase 1 read back HTTBR {:#x} / HSCTLR {:#x}, expected boot pgd {:#x} with the MMU on",
            ev.phase1_httbr_lo,
            ev.phase1_hsctlr,
            boot_lo
        );
    }
    log!(
        "cpu{cpu} phase1 done (boot pgd {:#x}, HSCTLR {:#010x}, MMU on at the identity map)",
        bi.boot_pgd,
        ev.phase1_hsctlr
    );
    let httbr = regs::read64::<regs::Httbr>();
    let hvbar = regs::read::<regs::HvbarRaw>();
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
    log!(
        "cpu{cpu} phase2 done (runtime pgd {:#x} via trampoline {:#010x}, HVBAR {:#010x})",
        httbr,
        hypfw::layout::TRAMPOLINE_VA,
        hvbar
    );
    cpu_init();
    let now = arch::cntpct();
    let t1 = (ev.t_phase1[1] as u64) << 32 | ev.t_phase1[0] as u64;
    let t2 = (ev.t_phase2[1] as u64) << 32 | ev.t_phase2[0] as u64;
    log!(
        "cpu{cpu} runtime ready (CNTPCT ticks: entry->phase1 {}, phase1->phase2 {}, entry->ready {} at {} Hz)",
        t1.wrapping_sub(bi.entry_time),
        t2.wrapping_sub(t1),
        now.wrapping_sub(bi.entry_time),
        bi.cntfrq
    );
    if cpu == 0 {
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
        selftest::run(bi)
    }
    fatal!("cpu{cpu}: secondary CPUs are not brought up yet")
}
