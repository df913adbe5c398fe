//! Handing over to the resident copy: what the init page and the runtime need (InitParams,
//! BootInfo, the fault record) is written into the copy by physical address and cleaned to the
//! point of coherency; the CPUs parked at entry are sent on; the boot CPU enters the init page.

use super::relocate::Copy;
use crate::arch;
use crate::arch::cache::{self, ArmCache};
use crate::drivers::gic;
use crate::shared::{BOOT_INFO, BOOT_STACK_PEAK, BootInfo, CpuControl, HYP_INIT_PARAMS, InitParams, percpu_addr};
use crate::{detail, log};
use hypfw_core::abi::bits::HSCTLR_RUNTIME;
use hypfw_core::abi::{FaultRecord, uart};
use hypfw_core::mm::addr::PhysAddr;
use hypfw_core::mm::coherency;
use hypfw_core::mm::layout::{self, ReservedLayout};
use hypfw_core::mm::pgtable;
use hypfw_core::platform::dtb::{Platform, UartKind};
use hypfw_core::platform::smp::CpuMap;
use hypfw_core::services::release;

unsafe extern "C" {
    static hypfw_runtime_vectors: u8;
    static hypfw_fault_record: FaultRecord;
    static mut hypfw_secondary_pen: u32;
    fn hyp_init_entry();
    fn hypfw_secure_secondary();
    fn hypfw_hyp_secondary();
    fn hypfw_parked();
    /// The runtime's entry (src/runtime/mod.rs), reached through its symbol: the boot phase
    /// does not import the runtime.
    fn hypfw_runtime_entry();
}

/// Write `value` to the copy's instance of the static at `sym` in this image (MMU off, so to
/// memory), and invalidate its lines: the runtime reads it through a cacheable mapping, where a
/// stale line must not hide it (the init page reads it with the MMU off: memory already has it).
///
/// # Safety
/// 1. `sym` is the address of a static of type `T` in this image;
/// 2. the MMU is off, one CPU runs, and nothing in the copy uses that static yet.
unsafe fn write_in_copy<T>(copy: &Copy, sym: usize, value: T) {
    let at = copy.pa(sym);
    // SAFETY: obligation 1 makes `at` the copy's instance of a `T` (the copy is this image, moved);
    // obligation 2 makes the physical address a pointer nobody else uses.
    unsafe { core::ptr::write_volatile(at as *mut T, value) };
    coherency::written_uncached(&mut ArmCache, at as u64, core::mem::size_of::<T>() as u64, cache::dcache_line());
}

/// Where failing assembly finds the console, and (once the tables exist) how the init page gets
/// back to its identity map.
pub fn write_fault_record(copy: &Copy, p: &Platform, boot_pgd: Option<PhysAddr>, init_page: PhysAddr) {
    let mut r = FaultRecord::default();
    // A console that stopped taking bytes is not given to the assembly either.
    if let Some(c) = p.console.filter(|c| c.base < 1 << 32 && !crate::drivers::console::muted()) {
        let (kind, shift, width) = match c.kind {
            UartKind::Pl011 => (uart::KIND_PL011, 0, 4),
            UartKind::Ns16550 { reg_shift, io_width } => (uart::KIND_NS16550, reg_shift as u32, io_width as u32),
            UartKind::Samsung { .. } => (uart::KIND_SAMSUNG, 0, 4),
            UartKind::Stm32 => (uart::KIND_STM32, 0, 4),
            UartKind::Imx => (uart::KIND_IMX, 0, 4),
            UartKind::Unsupported => (0, 0, 0),
        };
        if kind != 0 {
            r = FaultRecord { uart: c.base as u32, uart_kind: kind, uart_shift: shift, uart_width: width, ..r };
        }
    }
    if let Some(pgd) = boot_pgd {
        r.boot_httbr = pgd.to_reg_pair();
        r.init_page_pa = init_page.0 as u32;
    }
    // SAFETY: hypfw_fault_record is a FaultRecord in the init page (boot/init_page.S); the boot
    // phase runs alone with the MMU off, and no CPU has entered the copy's init page yet.
    unsafe { write_in_copy(copy, (&raw const hypfw_fault_record) as usize, r) };
}

/// What the boot phase hands to the init page and to the runtime.
pub struct Handover {
    pub boot_pgd: PhysAddr,
    pub runtime_pgd: PhysAddr,
    pub layout: ReservedLayout,
    pub cpus: CpuMap,
    pub info: BootInfo,
}

/// Write InitParams and BootInfo into the copy.
pub fn write(copy: &Copy, h: Handover) {
    let p = &h.info.platform;
    let mut ip = InitParams::ZERO;
    ip.boot_httbr = h.boot_pgd.to_reg_pair();
    ip.runtime_httbr = h.runtime_pgd.to_reg_pair();
    ip.htcr = pgtable::HTCR;
    ip.hmair0 = pgtable::HMAIR0;
    ip.hmair1 = pgtable::HMAIR1;
    ip.hsctlr = HSCTLR_RUNTIME.bits();
    ip.vectors_va = copy.va((&raw const hypfw_runtime_vectors) as usize);
    ip.entry_va = copy.va(hypfw_runtime_entry as *const () as usize);
    ip.ncpus = h.cpus.count as u32;
    ip.mpidr = h.cpus.mpidr;
    ip.gicd = p.gic.map_or(0, |g| g.dist.0 as u32);
    ip.gicc = p.gic.map_or(0, |g| g.cpu.0 as u32);
    ip.cntfrq = p.timer_freq.unwrap_or(0);
    // Only the CPUs of the device tree have a stack; the init page refuses any other index.
    for cpu in 0..h.layout.ncpus {
        ip.stack_top_va[cpu] = h.layout.stack_top(cpu).0;
    }
    for cpu in 0..layout::MAX_CPUS {
        ip.percpu_va[cpu] = copy.va(percpu_addr(cpu));
    }
    // SAFETY: HYP_INIT_PARAMS is an InitParams and BOOT_INFO an Option<BootInfo> of this image;
    // the boot phase runs alone with the MMU off and no CPU has entered the copy yet.
    unsafe {
        write_in_copy(copy, (&raw const HYP_INIT_PARAMS) as usize, ip);
        write_in_copy(copy, (&raw const BOOT_INFO) as usize, Some(h.info));
    }
}

/// Where the CPUs hypfw starts itself go first: with hypfw as the PSCI provider they wait in the
/// resident pen, reached from Secure SVC through the monitor, or from Non-secure HYP directly.
fn secondary_entry(copy: &Copy, secure: bool) -> u32 {
    let f = if secure { hypfw_secure_secondary as *const () } else { hypfw_hyp_secondary as *const () };
    copy.pa(f as usize) as u32
}

/// With hypfw as the PSCI provider (`CpuControl::Pen`), send the other CPUs to the resident pen:
/// those waiting in entry.S's pen in the image as loaded (which the boot CPU may have moved away
/// from since), and those waiting on the SoC's CPU release mailbox (`release_mailbox`). Each finds
/// its index, reaches Non-secure HYP and parks in the resident pen, where the runtime waits for
/// it (`settle_pen`) and a CPU_ON releases it.
pub fn release_parked(copy: &Copy, loaded_at: u32, cpus: &CpuMap, control: CpuControl, p: &Platform, secure: bool) {
    if control != CpuControl::Pen || cpus.count <= 1 {
        release_mailbox(copy, p, cpus, None);
        return;
    }
    let target = secondary_entry(copy, secure);
    if secure {
        let pen = loaded_at as usize + ((&raw const hypfw_secondary_pen) as usize - copy.image_start);
        // SAFETY: the pen word lies in the first page of the image as loaded, which no self-move
        // overwrote (linker.ld asserts it); MMU off, so the store reaches memory, and SEV wakes them.
        unsafe { core::ptr::write_volatile(pen as *mut u32, target) };
        arch::sev();
        detail!("smp: {} secondary CPU(s) released from the entry pen to the resident pen", cpus.count - 1);
    }
    release_mailbox(copy, p, cpus, Some(target));
}

/// The SoC's CPU release mailbox, where parked CPUs wait for a start address (Versatile Express's
/// SYS_FLAGS: the board's boot monitor, U-Boot's non-secure pen and QEMU's secondary loop; the
/// AST2600's SMP mailbox). With `target`, hypfw starts them there itself
/// (`services::release::start`). Without, it points the mailbox at a wait loop in its own region,
/// so that an address a bootloader left there (U-Boot's pen, in RAM the payload will own) is never
/// where a woken CPU goes. The payload cannot write the mailbox itself (stage 2 refuses it).
fn release_mailbox(copy: &Copy, p: &Platform, cpus: &CpuMap, target: Option<u32>) {
    let Some(r) = p.cpu_release else { return };
    let entry = target.unwrap_or_else(|| copy.pa(hypfw_parked as *const () as usize) as u32);
    // A block that holds one start at a time names cpu1: the AST2600's second and last core.
    let aff0 = cpus.mpidr.get(1).copied().unwrap_or(0) & 0xFF;
    let Some(start) = release::start(&r, entry, aff0) else { return };
    // Only to park: not where the writes themselves start a CPU (a "go" word).
    if target.is_none() && start.one_at_a_time {
        return;
    }
    for &(at, value) in start.writes() {
        // SAFETY: MMU off, so the stores reach the block's registers (the SoC's, from its root
        // compatible), which only hypfw writes: stage 2 refuses them to the payload.
        unsafe { core::ptr::write_volatile(at as usize as *mut u32, value) };
    }
    hypfw_core::mm::cache::CacheMaintenance::dsb(&mut ArmCache);
    if target.is_none() {
        return;
    }
    log!("smp: hypfw starts cpu1..cpu{} through the {}", cpus.count - 1, r.kind.name());
    match (start.wake, p.gic) {
        // SAFETY: the distributor's PA from the device tree, MMU off; the payload has not
        // started, and a kernel sets the GIC up afresh.
        (release::Wake::Sgi, Some(g)) => unsafe { gic::wake_others(g.dist.0 as usize) },
        _ => arch::sev(),
    }
}

/// Enter the copy's init page on the boot CPU (logical CPU 0), once the boot stack's check has
/// passed (`platform`: the console to report an overflow on).
pub fn enter_init_page(copy: &Copy, platform: &Platform) -> ! {
    let entry = copy.pa(hyp_init_entry as *const () as usize);
    detail!("cpu0 entering the init page at {:#010x}", entry);
    // The boot stack's check and mark, after the last line the boot phase prints.
    let peak = super::stack::check(platform);
    // SAFETY: BOOT_STACK_PEAK is a u32 of this image; the boot phase runs alone with the MMU off
    // and no CPU has entered the copy yet.
    unsafe { write_in_copy(copy, (&raw const BOOT_STACK_PEAK) as usize, peak) };
    // SAFETY: the init page of the relocated copy is position independent and starts with the MMU
    // off at its physical address; it never returns (it enters the runtime).
    unsafe { arch::jump(entry, 0) }
}
