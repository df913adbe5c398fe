//! What the boot CPU hands to the init page and to the runtime. Both live in the reserved-region
//! copy of the image: the boot CPU writes them there (by physical address, MMU off) before it
//! jumps to the init page, which reads [`InitParams`] PC-relatively with the MMU off.

use hypfw::dtb::Platform;
pub use hypfw::handoff::{InitParams, PenSlot, PhaseEvidence, ResumeSlot};
use hypfw::layout::{MAX_CPUS, ReservedLayout};

#[unsafe(no_mangle)]
pub static mut HYP_PEN: [PenSlot; MAX_CPUS] = [PenSlot::ZERO; MAX_CPUS];

#[unsafe(no_mangle)]
pub static mut HYP_INIT_PARAMS: InitParams = InitParams::ZERO;

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
    pub cpus: hypfw::smp::CpuMap,
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
    /// IPA ranges the payload must never reach (hypfw's region, GICH).
    pub holes: [hypfw::layout::MemRange; 2],
}

#[unsafe(no_mangle)]
pub static mut BOOT_INFO: Option<BootInfo> = None;

#[unsafe(no_mangle)]
pub static mut HYP_RESUME: [ResumeSlot; MAX_CPUS] = [ResumeSlot::ZERO; MAX_CPUS];
