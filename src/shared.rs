//! The statics the boot phase writes and the runtime reads, and the per-CPU runtime state. They
//! live in the reserved-region copy of the image: the boot CPU writes the hand-over ones there by
//! physical address (MMU off) before it jumps to the init page, which reads [`InitParams`]
//! PC-relatively with the MMU off; the runtime reads them at their runtime VA.
//!
//! This module is the only place the two phases meet: `setup` and `runtime` both import it, and
//! neither imports the other.

use core::sync::atomic::AtomicU32;
pub use hypfw_core::abi::{InitParams, PenSlot, PhaseEvidence, ResumeSlot};
use hypfw_core::mm::layout::{MAX_CPUS, MemRange, ReservedLayout};
use hypfw_core::platform::dtb::Platform;
use hypfw_core::platform::options::Options;
use hypfw_core::platform::smp::CpuMap;
use hypfw_core::services::psci::CpuPower;

/// Per-CPU mailboxes of hypfw's own pen (hypfw is the PSCI provider).
#[unsafe(no_mangle)]
pub static mut HYP_PEN: [PenSlot; MAX_CPUS] = [PenSlot::ZERO; MAX_CPUS];

/// What the init page needs, written by the boot CPU, read by every CPU with its MMU off.
#[unsafe(no_mangle)]
pub static mut HYP_INIT_PARAMS: InitParams = InitParams::ZERO;

/// Everything the runtime needs from the boot phase, written once by the boot CPU. (Not
/// `no_mangle`: no assembly reads it, and an exported symbol would be reached through the GOT.)
pub static mut BOOT_INFO: Option<BootInfo> = None;

/// The boot stack's high-water mark in bytes, written by the boot CPU last thing before it enters
/// the init page (the boot stack is not part of the resident copy; the runtime reports the mark).
pub static mut BOOT_STACK_PEAK: u32 = 0;

/// PL1 callers saved across a teardown (HYPFW_TEARDOWN / HYPFW_REINIT), one slot per CPU.
#[unsafe(no_mangle)]
pub static mut HYP_RESUME: [ResumeSlot; MAX_CPUS] = [ResumeSlot::ZERO; MAX_CPUS];

/// How the boot CPU entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryMode {
    NsHyp,
    SecureSvc,
}

/// How secondary CPUs are started and stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuControl {
    /// The platform's PSCI (SMC from HYP): CPU_ON to the init page, CPU_OFF after teardown.
    Psci,
    /// hypfw's own pen (it entered from Secure SVC and is the PSCI provider).
    Pen,
    /// Neither: only the boot CPU runs.
    None,
}

/// Everything the runtime needs to know from the boot phase. Plain data (no pointers): it is
/// written by the boot copy of the image and read by the runtime copy.
#[derive(Clone, Copy)]
pub struct BootInfo {
    pub platform: Platform,
    /// hypfw's options from the command line.
    pub options: Options,
    pub region_pa: u64,
    pub layout: ReservedLayout,
    pub console_va: u32,
    pub boot_pgd: u64,
    pub runtime_pgd: u64,
    pub entry_mode: EntryMode,
    pub entry_time: u64,
    pub load_addr: u32,
    pub pool_pages_used: u64,
    pub cntfrq: u32,
    pub cpus: CpuMap,
    pub cpu_control: CpuControl,
    /// Physical address of the init page (hyp_teardown needs it to reach the identity map).
    pub init_page_pa: u64,
    /// The payload to run, if the image carried one.
    pub payload: Option<PayloadInfo>,
}

/// A payload ready to run: its entry point, device tree and stage-2 tables.
#[derive(Clone, Copy, Debug)]
pub struct PayloadInfo {
    pub entry: u32,
    pub dtb: u32,
    pub vttbr: u64,
    /// IPA ranges the payload must never reach (hypfw's region, GICH, fw_cfg's page, the CPU
    /// release block's page).
    pub holes: [MemRange; 4],
    /// QEMU's fw_cfg, whose page is one of the holes and whose registers the runtime emulates.
    pub fw_cfg: Option<FwCfgInfo>,
    /// The SoC's CPU release registers, whose page is one of the holes: the runtime refuses the
    /// payload's writes to them and carries out its other accesses to the page.
    pub cpu_release: Option<ReleaseInfo>,
}

/// Where the CPU release block is (IPA = PA), and its page's VA in the runtime table.
#[derive(Clone, Copy, Debug)]
pub struct ReleaseInfo {
    pub block: hypfw_core::platform::dtb::CpuRelease,
    /// The VA of the first byte of the block's page.
    pub va: u32,
}

/// Where QEMU's fw_cfg registers are: their base, IPA = PA (the `reg` of `qemu,fw-cfg-mmio`),
/// and the same address in the runtime table.
#[derive(Clone, Copy, Debug)]
pub struct FwCfgInfo {
    pub base: u64,
    pub va: u32,
    /// The stage-2 hole around the registers (whole pages).
    pub page: MemRange,
}

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
    /// A command from the boot CPU (runtime::hotplug::CMD_*).
    pub cmd: AtomicU32,
    /// The low word of CNTPCT when it last became ready in the runtime (for differences under
    /// 2^32 ticks, over a minute at the usual counter rates; a word store, not a 64-bit atomic).
    pub ready_at: AtomicU32,
    /// The payload's view of this CPU, and where CPU_ON asked it to start.
    pub power: CpuPower,
    pub payload_entry: AtomicU32,
    pub payload_context: AtomicU32,
    /// SMCs (PSCI calls) and stage-2 aborts taken from the payload.
    pub smcs: AtomicU32,
    pub s2_aborts: AtomicU32,
}

// The vectors' fast path counts HVCs into `hvcs` through HTPIDR ...
const _: () = assert!(core::mem::offset_of!(PerCpu, hvcs) == hypfw_core::abi::PERCPU_HVCS_OFFSET);
// ... and trapped PSCI_VERSION SMCs into `smcs`.
const _: () = assert!(core::mem::offset_of!(PerCpu, smcs) == hypfw_core::abi::PERCPU_SMCS_OFFSET);

/// Every CPU's [`PerCpu`]; phase 2 points HTPIDR at its own element.
pub static PERCPU: [PerCpu; MAX_CPUS] = {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: PerCpu = PerCpu {
        index: 0,
        inits: AtomicU32::new(0),
        teardowns: AtomicU32::new(0),
        hvcs: AtomicU32::new(0),
        dirty_entries: AtomicU32::new(0),
        cmd: AtomicU32::new(0),
        ready_at: AtomicU32::new(0),
        power: CpuPower::new(),
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

/// The address of CPU `cpu`'s [`PerCpu`] in this copy of the image.
pub fn percpu_addr(cpu: usize) -> usize {
    &PERCPU[cpu] as *const PerCpu as usize
}
