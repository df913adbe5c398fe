//! What the boot CPU hands to the init page and to the runtime. Both live in the reserved-region
//! copy of the image: the boot CPU writes them there (by physical address, MMU off) before it
//! jumps to the init page, which reads [`InitParams`] PC-relatively with the MMU off.

use hypfw::dtb::Platform;
use hypfw::layout::{MAX_CPUS, ReservedLayout};

/// Read by `boot/init_page.S` (offsets passed to the assembly with `offset_of!`).
#[repr(C)]
pub struct InitParams {
    /// HTTBR values as (low, high) words: see `PhysAddr::to_reg_pair`.
    pub boot_httbr: [u32; 2],
    pub runtime_httbr: [u32; 2],
    pub htcr: u32,
    pub hmair0: u32,
    pub hmair1: u32,
    pub hsctlr: u32,
    pub vectors_va: u32,
    pub entry_va: u32,
    pub stack_top_va: [u32; MAX_CPUS],
    pub percpu_va: [u32; MAX_CPUS],
    /// Logical CPU -> MPIDR affinity, for CPUs that must find their own index (the pen).
    pub ncpus: u32,
    pub mpidr: [u32; MAX_CPUS],
    /// For Secure-state secondaries: GIC distributor and CPU interface (PA, 0 = none), CNTFRQ.
    pub gicd: u32,
    pub gicc: u32,
    pub cntfrq: u32,
}

/// One CPU's pen mailbox: the release word and the status word in separate cache lines, because
/// the runtime writes one with its caches on and the parked CPU the other with its MMU off.
#[repr(C, align(64))]
pub struct PenSlot {
    pub release: u32,
    _pad0: [u32; 15],
    pub status: u32,
    _pad1: [u32; 15],
}

#[unsafe(no_mangle)]
pub static mut HYP_PEN: [PenSlot; MAX_CPUS] =
    [const { PenSlot { release: 0, _pad0: [0; 15], status: 0, _pad1: [0; 15] } }; MAX_CPUS];

#[unsafe(no_mangle)]
pub static mut HYP_INIT_PARAMS: InitParams = InitParams {
    boot_httbr: [0; 2],
    runtime_httbr: [0; 2],
    htcr: 0,
    hmair0: 0,
    hmair1: 0,
    hsctlr: 0,
    vectors_va: 0,
    entry_va: 0,
    stack_top_va: [0; MAX_CPUS],
    percpu_va: [0; MAX_CPUS],
    ncpus: 0,
    mpidr: [0; MAX_CPUS],
    gicd: 0,
    gicc: 0,
    cntfrq: 0,
};

/// Pushed by phase 2 on the CPU's new stack: what the init page observed, for the milestone lines.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PhaseEvidence {
    /// CNTPCT when phase 2 finished.
    pub t_phase2: [u32; 2],
    /// HTTBR (low word) as read back right after phase 1 turned the MMU on.
    pub phase1_httbr_lo: u32,
    /// HSCTLR read back after phase 1.
    pub phase1_hsctlr: u32,
    /// CNTPCT when phase 1 finished.
    pub t_phase1: [u32; 2],
    /// Padding (the vectors VA register), keeping the frame a multiple of 8 bytes.
    pub _pad: u32,
    /// HSCTLR as the CPU arrived at the init page.
    pub entry_hsctlr: u32,
}

const _: () = assert!(core::mem::size_of::<PhaseEvidence>().is_multiple_of(8), "the stack must stay 8-byte aligned");

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
}

#[unsafe(no_mangle)]
pub static mut BOOT_INFO: Option<BootInfo> = None;

/// A guest's registers kept across a teardown, at a place the init page reaches by PC-relative
/// address with the MMU off: hyp_teardown returns to the caller from here, and the stub's
/// HYPFW_REINIT saves the caller here before it runs the dual-step init again.
#[repr(C, align(64))]
pub struct ResumeSlot {
    /// r0-r12, LR_usr, ELR_hyp, SPSR_hyp.
    pub regs: [u32; 16],
    /// Set by the stub: the runtime must resume this guest after the re-init.
    pub pending: u32,
    _pad: [u32; 15],
}

#[unsafe(no_mangle)]
pub static mut HYP_RESUME: [ResumeSlot; MAX_CPUS] =
    [const { ResumeSlot { regs: [0; 16], pending: 0, _pad: [0; 15] } }; MAX_CPUS];
