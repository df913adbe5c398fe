//! Starting, stopping and re-initialising CPUs. Every CPU that (re)enters HYP does so through the
//! init page and the kept boot table; every CPU that leaves goes back through it (hyp_teardown in
//! boot/init_page.S): runtime VA -> trampoline -> identity map -> MMU off -> caches cleaned.

use super::guest::GuestContext;
use super::init::{CpuControl, HYP_PEN, HYP_RESUME};
use super::{PERCPU, boot_info, this_cpu};
use crate::arch;
use core::sync::atomic::Ordering;
use hypfw::addr::PhysAddr;
use smccc::Smc;
use smccc::psci::{self, AffinityState, LowestAffinityLevel};

/// What hyp_teardown does once the CPU is back in its entry state.
pub const TEARDOWN_REINIT: u32 = 0;
pub const TEARDOWN_PEN: u32 = 1;
pub const TEARDOWN_CPU_OFF: u32 = 2;
/// Return to the lower-mode caller saved in HYP_RESUME (HYPFW_TEARDOWN).
pub const TEARDOWN_RETURN: u32 = 3;

/// Commands a CPU in the runtime's idle loop takes from the boot CPU.
pub const CMD_NONE: u32 = 0;
pub const CMD_OFF: u32 = 1;

unsafe extern "C" {
    fn hyp_teardown(cpu: u32, action: u32, boot_httbr_lo: u32, boot_httbr_hi: u32, init_page_pa: u32) -> !;
    fn hyp_init_entry();
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuError {
    Psci(psci::error::Error),
    Timeout,
    NoControl,
}

impl core::fmt::Display for CpuError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CpuError::Psci(e) => write!(f, "PSCI error {e:?}"),
            CpuError::Timeout => write!(f, "timeout (1 s of CNTPCT)"),
            CpuError::NoControl => write!(f, "no PSCI and no pen to start CPUs with"),
        }
    }
}

/// Leave HYP on this CPU: teardown, then `action`. Never returns (a re-init arrives at the
/// runtime entry again, on a fresh stack).
pub fn teardown(action: u32) -> ! {
    let bi = boot_info();
    let me = this_cpu();
    me.teardowns.fetch_add(1, Ordering::Relaxed);
    let [lo, hi] = PhysAddr(bi.boot_pgd).to_reg_pair();
    // SAFETY: interrupts are masked in HYP; the boot table and init page are kept for the life of
    // the system, and nothing on this stack is used after the call.
    unsafe { hyp_teardown(me.index, action, lo, hi, bi.init_page_pa as u32) }
}

/// HYPFW_TEARDOWN from the guest in `ctx`: save it where the init page finds it with the MMU off,
/// tear HYP down, and return to it with r0 = SUCCESS. HYP gives up all control of the caller: no
/// stage 2, no traps (HCR = 0), as when hypfw was entered; HYPFW_REINIT brings both back.
pub fn teardown_to_caller(ctx: &GuestContext) -> ! {
    // SAFETY: HYP-owned registers; the caller runs on with PL1 translation only, as at entry.
    unsafe {
        use crate::arch::regs;
        regs::write::<regs::HcrRaw>(0);
        regs::write::<regs::Tlbiallnsnh>(0);
        core::arch::asm!("dsb ish", "isb", options(nostack, preserves_flags));
    }
    let cpu = this_cpu().index as usize;
    // SAFETY: this CPU's slot, written and cleaned to the PoC before hyp_teardown reads it with the
    // MMU off.
    unsafe {
        let slot = &raw mut HYP_RESUME[cpu];
        let mut regs = [0u32; 16];
        regs[4..13].copy_from_slice(&ctx.r[4..]); // r0-r3 = SUCCESS, 0, 0, 0
        regs[13] = ctx.lr_usr;
        regs[14] = ctx.elr;
        regs[15] = ctx.spsr;
        (*slot).regs = regs;
        (*slot).pending = 0;
        // hyp_teardown reads the slot with the MMU off: it must be in memory, not only in a cache.
        hypfw::cache::clean_range_to_poc(
            &mut arch::cache::ArmCache,
            slot as u64,
            core::mem::size_of::<super::init::ResumeSlot>() as u64,
            arch::cache::dcache_line(),
        );
    }
    teardown(TEARDOWN_RETURN)
}

/// The guest the init page's stub saved when it was asked to re-initialise HYP, if any.
pub fn take_resumed_guest(cpu: usize) -> Option<GuestContext> {
    // SAFETY: the stub wrote the slot with the MMU off; this CPU's caches were cleaned and
    // invalidated at teardown, and the lines are invalidated again here before reading.
    unsafe {
        let slot = &raw mut HYP_RESUME[cpu];
        arch::cache::invalidate_dcache_line(slot as usize);
        arch::cache::invalidate_dcache_line(slot as usize + 64);
        if core::ptr::read_volatile(&raw const (*slot).pending) == 0 {
            return None;
        }
        (*slot).pending = 0;
        let regs = (*slot).regs;
        let mut ctx = GuestContext::default();
        ctx.r.copy_from_slice(&regs[..13]);
        ctx.lr_usr = regs[13];
        ctx.elr = regs[14];
        ctx.spsr = regs[15];
        if !hypfw::handoff::is_lower_mode(ctx.spsr) {
            crate::fatal!(
                "cpu{cpu}: the caller to resume after HYPFW_REINIT has SPSR {:#x} ({} mode); only PL0/PL1 callers are resumed",
                ctx.spsr,
                crate::arch::mode_name(ctx.spsr)
            );
        }
        Some(ctx)
    }
}

/// Idle loop of a secondary CPU in the runtime: wait for the boot CPU's commands.
pub fn secondary_idle() -> ! {
    let me = this_cpu();
    loop {
        match me.cmd.swap(CMD_NONE, Ordering::AcqRel) {
            CMD_OFF => teardown(match boot_info().cpu_control {
                CpuControl::Pen => TEARDOWN_PEN,
                _ => TEARDOWN_CPU_OFF,
            }),
            _ => arch::wfe(),
        }
    }
}

fn wait_until(mut done: impl FnMut() -> bool) -> Result<(), CpuError> {
    let limit = boot_info().cntfrq.max(1_000_000) as u64;
    let t0 = arch::cntpct();
    while !done() {
        if arch::cntpct().wrapping_sub(t0) > limit {
            return Err(CpuError::Timeout);
        }
        core::hint::spin_loop();
    }
    Ok(())
}

fn pen_status(cpu: usize) -> u32 {
    // SAFETY: the slot is in the runtime's data; the parked CPU writes the status word with its
    // MMU off, so the line is invalidated (never written from this side) before it is read.
    unsafe {
        let p = &raw const HYP_PEN[cpu].status;
        arch::cache::invalidate_dcache_line(p as usize);
        core::ptr::read_volatile(p)
    }
}

/// With hypfw as the PSCI provider (Secure SVC entry): wait until every secondary released from
/// the entry pen has parked in the resident pen. Until then a CPU may still run code of the boot
/// copy of the image, in RAM the payload is about to be given. A CPU that does not arrive is
/// reported (and will not be started).
pub fn settle_pen() {
    let bi = boot_info();
    if bi.cpu_control != CpuControl::Pen {
        return;
    }
    for cpu in 1..bi.cpus.count {
        if let Err(e) = wait_until(|| pen_status(cpu) == 1) {
            crate::log!("cpu{cpu} did not reach the resident pen: {e}");
        }
    }
}

/// Start the physical CPU `cpu` at the init page (it enters the runtime through phase 1/2),
/// without waiting for it. A CPU still on its way down from a CPU_OFF is waited for first.
pub fn start(cpu: usize) -> Result<(), CpuError> {
    start_at(cpu, super::va_to_pa(hyp_init_entry as *const () as usize) as u32)
}

/// As [`start`], at `entry` (a PA) instead of the init page when the platform's PSCI starts the
/// CPU; from the pen a CPU always enters the init page.
fn start_at(cpu: usize, entry: u32) -> Result<(), CpuError> {
    let bi = boot_info();
    match bi.cpu_control {
        CpuControl::Psci => {
            let mut result = Ok(());
            wait_until(|| {
                result = psci::cpu_on_32::<Smc>(bi.cpus.mpidr[cpu], entry, cpu as u32);
                result != Err(psci::error::Error::AlreadyOn)
            })?;
            result.map_err(CpuError::Psci)
        }
        CpuControl::Pen => {
            wait_until(|| pen_status(cpu) == 1)?;
            // SAFETY: the release word of this CPU's slot; cleaned so the MMU-off reader sees it.
            unsafe {
                let p = &raw mut HYP_PEN[cpu].release;
                core::ptr::write_volatile(p, 1);
                arch::cache::clean_dcache_line(p as usize);
            }
            arch::sev();
            Ok(())
        }
        CpuControl::None => Err(CpuError::NoControl),
    }
}

/// Is the physical CPU `cpu` off (PSCI) or parked in the pen?
pub fn is_down(bi: &super::init::BootInfo, cpu: usize) -> bool {
    match bi.cpu_control {
        CpuControl::Psci => matches!(
            psci::affinity_info_32::<Smc>(bi.cpus.mpidr[cpu], LowestAffinityLevel::All),
            Ok(AffinityState::Off)
        ),
        CpuControl::Pen => pen_status(cpu) == 1,
        CpuControl::None => true,
    }
}

/// Start logical CPU `cpu` and wait until it has entered the runtime.
pub fn cpu_on(cpu: usize) -> Result<(), CpuError> {
    let before = PERCPU[cpu].inits.load(Ordering::Acquire);
    start(cpu)?;
    wait_until(|| PERCPU[cpu].inits.load(Ordering::Acquire) != before)
}

/// As [`cpu_on`], with the CPU started by PSCI at `entry` (a PA; code that ends up in the init
/// page), for the self-test of the dirty-arrival check.
pub fn cpu_on_at(cpu: usize, entry: u32) -> Result<(), CpuError> {
    let before = PERCPU[cpu].inits.load(Ordering::Acquire);
    start_at(cpu, entry)?;
    wait_until(|| PERCPU[cpu].inits.load(Ordering::Acquire) != before)
}

/// Ask logical CPU `cpu` to leave and wait until it is off (PSCI) or parked (pen).
pub fn cpu_off(cpu: usize) -> Result<(), CpuError> {
    let bi = boot_info();
    PERCPU[cpu].cmd.store(CMD_OFF, Ordering::Release);
    arch::sev();
    if bi.cpu_control == CpuControl::None {
        return Err(CpuError::NoControl);
    }
    wait_until(|| is_down(bi, cpu))
}
