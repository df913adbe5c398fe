//! Starting, stopping and re-initialising CPUs. Every CPU that (re)enters HYP does so through the
//! init page and the kept boot table; every CPU that leaves goes back through it (hyp_teardown in
//! boot/init_page.S): runtime VA -> trampoline -> identity map -> MMU off -> caches cleaned.

use super::world::Pl1Context;
use super::{boot_info, this_cpu};
use crate::arch::{self, cache, regs};
use crate::shared::{BootInfo, CpuControl, HYP_PEN, HYP_RESUME, PERCPU, PenSlot, ResumeSlot};
use core::sync::atomic::{AtomicU32, Ordering};
use hypfw_core::abi::{bits::mode_name, is_lower_mode, teardown as action};
use hypfw_core::mm::addr::PhysAddr;
use hypfw_core::mm::coherency::{self, Pending};
use hypfw_core::mm::layout::MAX_CPUS;

/// Commands a CPU in the runtime's idle loop takes from the boot CPU.
pub const CMD_NONE: u32 = 0;
pub const CMD_OFF: u32 = 1;

unsafe extern "C" {
    fn hyp_teardown(cpu: u32, action: u32, boot_httbr_lo: u32, boot_httbr_hi: u32, init_page_pa: u32) -> !;
    fn hyp_init_entry();
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuError {
    Psci(arch::psci::Error),
    Timeout,
    NoControl,
}

impl core::fmt::Display for CpuError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CpuError::Psci(e) => {
                use arch::psci::Error as E;
                let name = match e {
                    E::NotSupported => "NOT_SUPPORTED",
                    E::InvalidParameters => "INVALID_PARAMETERS",
                    E::Denied => "DENIED",
                    E::AlreadyOn => "ALREADY_ON",
                    E::OnPending => "ON_PENDING",
                    E::InternalFailure => "INTERNAL_FAILURE",
                    E::NotPresent => "NOT_PRESENT",
                    E::Disabled => "DISABLED",
                    E::InvalidAddress => "INVALID_ADDRESS",
                    E::Unknown(n) => return write!(f, "PSCI error {n}"),
                };
                write!(f, "PSCI error {name}")
            }
            CpuError::Timeout => write!(f, "timeout ({CPU_WAIT_SECONDS} s of CNTPCT)"),
            CpuError::NoControl => write!(f, "no PSCI and no pen to start CPUs with"),
        }
    }
}

/// Leave HYP on this CPU: teardown, then `then` (a `hypfw_core::abi::teardown` action). Never
/// returns (a re-init arrives at the runtime entry again, on a fresh stack).
pub fn teardown(then: u32) -> ! {
    let bi = boot_info();
    let me = this_cpu();
    me.teardowns.fetch_add(1, Ordering::Relaxed);
    let [lo, hi] = PhysAddr(bi.boot_pgd).to_reg_pair();
    // SAFETY: interrupts are masked in HYP; the boot table and the init page it maps are kept for
    // the life of the system, and nothing on this stack is used after the call (it never returns).
    unsafe { hyp_teardown(me.index, then, lo, hi, bi.init_page_pa as u32) }
}

/// The teardown action for a CPU that goes off: PSCI CPU_OFF, or hypfw's own pen.
pub fn off_action(bi: &BootInfo) -> u32 {
    match bi.cpu_control {
        CpuControl::Pen => action::PEN,
        _ => action::CPU_OFF,
    }
}

/// HYPFW_TEARDOWN from the PL1 caller in `ctx`: save it where the init page finds it with the MMU
/// off, tear HYP down, and return to it with r0 = SUCCESS. HYP gives up all control of the caller:
/// no stage 2, no traps (HCR = 0), as when hypfw was entered; HYPFW_REINIT brings both back.
pub fn teardown_to_caller(ctx: &Pl1Context) -> ! {
    // SAFETY: HCR only configures what PL1 may do, and PL1 does not run on this CPU until the
    // teardown returns to it: from then on with its own translation only, as at hypfw's entry.
    unsafe { regs::write::<regs::Hcr>(0) };
    regs::tlbi_all_pl1();
    let cpu = this_cpu().index as usize;
    // SAFETY: this CPU's own slot (no other CPU touches it), written with plain stores and then
    // cleaned to the PoC, before hyp_teardown reads it with the MMU off.
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
        coherency::publish(
            &mut cache::ArmCache,
            slot as u64,
            core::mem::size_of::<ResumeSlot>() as u64,
            cache::dcache_line(),
        );
    }
    teardown(action::RETURN)
}

/// A CPU's resume slot as a pending mailbox (volatile: the stub writes it with its MMU off).
struct ResumeMailbox(*mut ResumeSlot);

impl Pending for ResumeMailbox {
    fn pending(&mut self) -> bool {
        // SAFETY: this CPU's own slot in HYP_RESUME, a static that lives forever; volatile, as the
        // stub wrote it behind the compiler's back.
        unsafe { core::ptr::read_volatile(&raw const (*self.0).pending) != 0 }
    }
    fn clear(&mut self) {
        // SAFETY: as above; only this CPU writes its slot while it runs HYP.
        unsafe { core::ptr::write_volatile(&raw mut (*self.0).pending, 0) }
    }
}

/// The PL1 caller the init page's stub saved when it was asked to re-initialise HYP, if any. The
/// stub wrote the slot with the MMU off: it is read from memory (`take_pending` invalidates first)
/// and its "pending" cleared in memory too (cleaned after the clear), so a later teardown that
/// cleans only this CPU's caches can never bring the old context back.
pub fn take_resumed_caller(cpu: usize) -> Option<Pl1Context> {
    assert!(cpu < MAX_CPUS);
    let slot = (&raw mut HYP_RESUME as *mut ResumeSlot).wrapping_add(cpu);
    let size = core::mem::size_of::<ResumeSlot>() as u64;
    if !coherency::take_pending(&mut cache::ArmCache, &mut ResumeMailbox(slot), slot as u64, size, cache::dcache_line())
    {
        return None;
    }
    // SAFETY: this CPU's own slot, fresh from memory (take_pending invalidated its lines).
    let regs = unsafe { core::ptr::read_volatile(&raw const (*slot).regs) };
    let mut ctx = Pl1Context::default();
    ctx.r.copy_from_slice(&regs[..13]);
    ctx.lr_usr = regs[13];
    ctx.elr = regs[14];
    ctx.spsr = regs[15];
    if !is_lower_mode(ctx.spsr) {
        crate::fatal!(
            "cpu{cpu}: the caller to resume after HYPFW_REINIT has SPSR {:#x} ({} mode); only PL0/PL1 callers are resumed",
            ctx.spsr,
            mode_name(ctx.spsr)
        );
    }
    Some(ctx)
}

/// Idle loop of a secondary CPU in the runtime: wait for the boot CPU's commands.
pub fn secondary_idle() -> ! {
    let me = this_cpu();
    loop {
        match me.cmd.swap(CMD_NONE, Ordering::AcqRel) {
            CMD_OFF => teardown(off_action(boot_info())),
            _ => arch::wfe(),
        }
    }
}

/// How long a CPU may take to arrive, park or go down before it counts as lost. On hardware each
/// takes microseconds; the margin is for emulators, whose counter follows the host's clock while
/// their vCPU threads may wait for a loaded host's cores (1 s was exceeded on a 2-core machine
/// running several QEMUs). Only a CPU that is really lost pays it.
pub const CPU_WAIT_SECONDS: u64 = 5;

/// Wait, in WFE, until `done` or [`CPU_WAIT_SECONDS`] have passed. What is waited for ends with a SEV
/// (a CPU's arrival in the runtime), or shows in PSCI state; the HYP event stream
/// (`CNTHCTL_EVENT_STREAM`) wakes the loop at least every 2^16 ticks in any case, so the timeout
/// holds. WFE rather than a busy loop: a waiting CPU leaves the bus, and, under `-icount`, the
/// instructions, to the one it waits for.
fn wait_until(mut done: impl FnMut() -> bool) -> Result<(), CpuError> {
    // The clock starts at the first wake-up: nothing is spent before the first WFE.
    let mut start = None;
    while !done() {
        arch::wfe();
        let now = arch::cntpct();
        let t0 = *start.get_or_insert(now);
        if now.wrapping_sub(t0) > CPU_WAIT_SECONDS * boot_info().cntfrq.max(1_000_000) as u64 {
            return Err(CpuError::Timeout);
        }
    }
    Ok(())
}

fn pen_status(cpu: usize) -> u32 {
    // The status word has a cache line of its own (PenSlot's layout, host-tested) that this side
    // never writes: invalidating it loses nothing, and the read then sees what the parked CPU
    // wrote with its MMU off.
    assert!(cpu < MAX_CPUS);
    let slot = (&raw const HYP_PEN as *const PenSlot).wrapping_add(cpu);
    // SAFETY: an in-bounds element of a static array (checked above); only its address is taken.
    let p = unsafe { &raw const (*slot).status };
    coherency::before_read(&mut cache::ArmCache, p as u64, 4, cache::dcache_line());
    // SAFETY: a word of a static array, in bounds (cpu < MAX_CPUS); volatile, as another CPU
    // writes it.
    unsafe { core::ptr::read_volatile(p) }
}

/// With hypfw as the PSCI provider (Secure SVC entry): wait until every secondary released from
/// the entry pen has parked in the resident pen. Until then a CPU may still run code of the boot
/// copy of the image, in RAM the payload is about to be given. A CPU that does not arrive is
/// reported, and a CPU_ON of it fails at once from then on (`CpuPower::absent`).
pub fn settle_pen() {
    let bi = boot_info();
    if bi.cpu_control != CpuControl::Pen {
        return;
    }
    // They were all sent at once: after one wait has run out, the others get no new one (a tree
    // listing three CPUs the machine lacks costs 5 s, not 15).
    let mut waited_out = false;
    // Indexed: the iterator form costs the resident text about 240 bytes.
    #[allow(clippy::needless_range_loop)]
    for cpu in 1..bi.cpus.count {
        let r = match waited_out {
            false => wait_until(|| pen_status(cpu) == 1),
            true if pen_status(cpu) == 1 => Ok(()),
            true => Err(CpuError::Timeout),
        };
        if let Err(e) = r {
            crate::log!("cpu{cpu} did not reach the resident pen: {e}");
            PERCPU[cpu].power.absent();
            waited_out = true;
        }
    }
}

/// The physical address of the init page's entry, where every CPU starts.
fn init_entry() -> u32 {
    // Worked out once: it is on the path of every CPU_ON.
    static PA: AtomicU32 = AtomicU32::new(0);
    match PA.load(Ordering::Relaxed) {
        0 => {
            let pa = super::va_to_pa(hyp_init_entry as *const () as usize) as u32;
            PA.store(pa, Ordering::Relaxed);
            pa
        }
        pa => pa,
    }
}

/// Start the physical CPU `cpu` at the init page (it enters the runtime through phase 1/2),
/// without waiting for it. A CPU still on its way down from a CPU_OFF is waited for first.
pub fn start(cpu: usize) -> Result<(), CpuError> {
    start_at(cpu, init_entry())
}

/// As [`start`], at `entry` (a PA) instead of the init page when the platform's PSCI starts the
/// CPU; from the pen a CPU always enters the init page.
fn start_at(cpu: usize, entry: u32) -> Result<(), CpuError> {
    let bi = boot_info();
    match bi.cpu_control {
        CpuControl::Psci => {
            // The common case first, without the timed loop: the CPU is off and starts.
            let mut result = arch::psci::cpu_on(bi.cpus.mpidr[cpu], entry, cpu as u32);
            if result != Err(arch::psci::Error::AlreadyOn) {
                return result.map_err(CpuError::Psci);
            }
            // Still on its way down from a CPU_OFF: ask again until it is off.
            wait_until(|| {
                result = arch::psci::cpu_on(bi.cpus.mpidr[cpu], entry, cpu as u32);
                result != Err(arch::psci::Error::AlreadyOn)
            })?;
            result.map_err(CpuError::Psci)
        }
        CpuControl::Pen => {
            wait_until(|| pen_status(cpu) == 1)?;
            let slot = (&raw mut HYP_PEN as *mut PenSlot).wrapping_add(cpu);
            // SAFETY: an in-bounds element of a static array (cpu indexes the CPU map, at most
            // MAX_CPUS entries); only its address is taken.
            let p = unsafe { &raw mut (*slot).release };
            // SAFETY: the release word of this CPU's pen slot, which only the runtime writes while
            // the CPU is parked (status 1, checked above).
            unsafe { core::ptr::write_volatile(p, 1) };
            // Its reader has its MMU off: the word must be in memory.
            coherency::publish(&mut cache::ArmCache, p as u64, 4, cache::dcache_line());
            arch::sev();
            Ok(())
        }
        CpuControl::None => Err(CpuError::NoControl),
    }
}

/// Is the physical CPU `cpu` off (PSCI) or parked in the pen?
pub fn is_down(bi: &BootInfo, cpu: usize) -> bool {
    match bi.cpu_control {
        CpuControl::Psci => arch::psci::is_off(bi.cpus.mpidr[cpu]),
        CpuControl::Pen => pen_status(cpu) == 1 || PERCPU[cpu].power.is_absent(),
        CpuControl::None => true,
    }
}

/// Start logical CPU `cpu` and wait until it has entered the runtime.
pub fn cpu_on(cpu: usize) -> Result<(), CpuError> {
    cpu_on_at(cpu, init_entry())
}

/// As [`cpu_on`], with the CPU started by PSCI at `entry` (a PA; code that ends up in the init
/// page), for the self-test of the dirty-arrival check.
pub fn cpu_on_at(cpu: usize, entry: u32) -> Result<(), CpuError> {
    // A snapshot to compare with: the wait below reads the counter with Acquire.
    let before = PERCPU[cpu].inits.load(Ordering::Relaxed);
    start_at(cpu, entry)?;
    wait_until(|| PERCPU[cpu].inits.load(Ordering::Acquire) != before)
}

/// Take logical CPU `cpu` offline, then start it at the init page with an out-of-range CPU index
/// as its context: the self-test of the init page's own fault report. Only with PSCI.
pub fn start_out_of_range(cpu: usize) -> Result<(), CpuError> {
    let bi = boot_info();
    if bi.cpu_control != CpuControl::Psci {
        return Err(CpuError::NoControl);
    }
    cpu_off(cpu)?;
    arch::psci::cpu_on(bi.cpus.mpidr[cpu], init_entry(), MAX_CPUS as u32).map_err(CpuError::Psci)
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
