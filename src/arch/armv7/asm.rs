//! All of `boot/*.S` as one `global_asm!` block (one block, because the files share macros),
//! with every constant and structure offset taken from `hypfw_core`: nothing here imports another
//! room of the firmware, and the assembly reaches the Rust it calls by symbol.

use core::mem::{offset_of, size_of};
use hypfw_core::abi::bits::{
    ACTLR_SMP, HSCTLR_RUNTIME, Hsctlr, Mode, NSACR_NS_ACCESS, SCR_CLEAR, SCR_SET, SPSR_HYP_MASKED, Sctlr,
};
use hypfw_core::abi::{
    self, EarlyInfo, FaultRecord, InitParams, MPIDR_NON_AFFINITY, PenSlot, Pl1Context, ResumeSlot, gic, reloc,
    teardown, uart,
};
use hypfw_core::mm::layout;
use hypfw_core::payload::zimage;
use hypfw_core::services::{hsr, hvc, psci};

// The caches-off macro tests M, C and I with one set of constants for SCTLR and HSCTLR.
const _: () = assert!(Sctlr::M.bits() == Hsctlr::M.bits() && Sctlr::C.bits() == Hsctlr::C.bits());
const _: () = assert!(Sctlr::I.bits() == Hsctlr::I.bits());
// Phase 1 writes HSCTLR_RUNTIME whole; it must keep the MMU on.
const _: () = assert!(HSCTLR_RUNTIME.contains(Hsctlr::M));

/// Semihosting (ARM DUI 0471): SYS_WRITE0, SYS_EXIT with "internal error", through SVC 0x123456
/// in ARM state.
const SYS_WRITE0: u32 = 0x04;
const SYS_EXIT: u32 = 0x18;
const ADP_STOPPED_INTERNAL_ERROR: u32 = 0x2_0024;
const SEMIHOSTING_SVC: u32 = 0x12_3456;

/// Bytes of the image's relocation table (`.hypfw_relocs`), from the build: `cargo xtask build`
/// sizes it to the table the link needs plus a little slack, instead of a fixed 16 KiB.
const RELOC_TABLE_BYTES: usize = parse_bytes(env!("HYPFW_RELOC_TABLE_BYTES"));

/// The digest of the boot-only read-only sections' list in linker.ld (build.rs): read here so
/// that a new list recompiles and relinks the image.
const _BOOT_RODATA_LIST: Option<&str> = option_env!("HYPFW_BOOT_RODATA");

const fn parse_bytes(s: &str) -> usize {
    let (b, mut i, mut n) = (s.as_bytes(), 0, 0);
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "HYPFW_RELOC_TABLE_BYTES is a decimal number");
        n = n * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    n
}

core::arch::global_asm!(
    concat!(
        include_str!("../../../boot/macros.S"),
        include_str!("../../../boot/entry.S"),
        include_str!("../../../boot/init_page.S"),
        include_str!("../../../boot/monitor.S"),
        include_str!("../../../boot/vectors.S"),
        include_str!("../../../boot/selftest_pl1.S"),
        include_str!("../../../boot/semihost.S"),
    ),
    MODE_HYP = const Mode::Hyp.bits(),
    MODE_SVC = const Mode::Svc.bits(),
    MODE_ABT = const Mode::Abt.bits(),
    MODE_MASK = const Mode::MASK,
    MPIDR_NON_AFFINITY = const MPIDR_NON_AFFINITY,
    CTRL_M = const Sctlr::M.bits(),
    CTRL_C = const Sctlr::C.bits(),
    CTRL_M_C = const Sctlr::M.union(Sctlr::C).bits(),
    SCTLR_V = const Sctlr::V.bits(),
    HSCTLR_I = const Hsctlr::I.bits(),
    CTRL_I = const Hsctlr::I.bits(),
    HSCTLR_DEFINED_LO = const Hsctlr::RES1.bits() & 0xFFFF,
    HSCTLR_DEFINED_HI = const Hsctlr::RES1.bits() >> 16,
    ENTRY_MMU_WAS_ON = const abi::ENTRY_MMU_WAS_ON,
    ENTRY_DCACHE_WAS_ON = const abi::ENTRY_DCACHE_WAS_ON,
    ZIMAGE_END = const zimage::END_OFFSET,
    RELOC_MAGIC = const reloc::MAGIC,
    RELOC_TABLE_BYTES = const RELOC_TABLE_BYTES,
    RELOC_GRANULE = const reloc::GRANULE,
    RELOC_GRANULE_MASK = const reloc::GRANULE - 1,
    FDT_MAGIC_LO = const hypfw_core::platform::dtb::FDT_MAGIC & 0xFFFF,
    FDT_MAGIC_HI = const hypfw_core::platform::dtb::FDT_MAGIC >> 16,
    DTB_MAX_SIZE = const hypfw_core::platform::dtb::MAX_SIZE,
    BOOT_STACK_SIZE = const abi::BOOT_STACK_SIZE,
    EI_SIZE = const size_of::<EarlyInfo>(),
    EI_R0 = const offset_of!(EarlyInfo, r0),
    EI_R1 = const offset_of!(EarlyInfo, r1),
    EI_R2 = const offset_of!(EarlyInfo, r2),
    EI_MODE_FLAGS = const offset_of!(EarlyInfo, mode_flags),
    EI_LOAD_ADDR = const offset_of!(EarlyInfo, load_addr),
    EI_CNTPCT_LO = const offset_of!(EarlyInfo, cntpct),
    EI_CNTPCT_HI = const offset_of!(EarlyInfo, cntpct) + 4,
    EI_RELOC_MISSING = const offset_of!(EarlyInfo, reloc_missing),
    EI_LOADED_AT = const offset_of!(EarlyInfo, loaded_at),
    IP_HMAIR0 = const offset_of!(InitParams, hmair0),
    IP_HMAIR1 = const offset_of!(InitParams, hmair1),
    IP_HTCR = const offset_of!(InitParams, htcr),
    IP_HSCTLR = const offset_of!(InitParams, hsctlr),
    IP_BOOT_HTTBR_LO = const offset_of!(InitParams, boot_httbr),
    IP_BOOT_HTTBR_HI = const offset_of!(InitParams, boot_httbr) + 4,
    IP_RUNTIME_HTTBR_LO = const offset_of!(InitParams, runtime_httbr),
    IP_RUNTIME_HTTBR_HI = const offset_of!(InitParams, runtime_httbr) + 4,
    IP_VECTORS_VA = const offset_of!(InitParams, vectors_va),
    IP_ENTRY_VA = const offset_of!(InitParams, entry_va),
    IP_STACK_TOP = const offset_of!(InitParams, stack_top_va),
    IP_PERCPU = const offset_of!(InitParams, percpu_va),
    IP_NCPUS = const offset_of!(InitParams, ncpus),
    IP_MPIDR = const offset_of!(InitParams, mpidr),
    IP_GICD = const offset_of!(InitParams, gicd),
    IP_GICC = const offset_of!(InitParams, gicc),
    IP_CNTFRQ = const offset_of!(InitParams, cntfrq),
    FR_SIZE = const size_of::<FaultRecord>(),
    FR_UART = const offset_of!(FaultRecord, uart),
    FR_UART_KIND = const offset_of!(FaultRecord, uart_kind),
    FR_UART_SHIFT = const offset_of!(FaultRecord, uart_shift),
    FR_UART_WIDTH = const offset_of!(FaultRecord, uart_width),
    FR_BOOT_HTTBR_LO = const offset_of!(FaultRecord, boot_httbr),
    FR_BOOT_HTTBR_HI = const offset_of!(FaultRecord, boot_httbr) + 4,
    FR_INIT_PAGE_PA = const offset_of!(FaultRecord, init_page_pa),
    UART_KIND_PL011 = const uart::KIND_PL011,
    UART_KIND_SAMSUNG = const uart::KIND_SAMSUNG,
    SAMSUNG_UTRSTAT = const uart::SAMSUNG_UTRSTAT,
    SAMSUNG_UTRSTAT_TX_EMPTY = const uart::SAMSUNG_UTRSTAT_TX_EMPTY,
    SAMSUNG_UTXH = const uart::SAMSUNG_UTXH,
    UART_KIND_STM32 = const uart::KIND_STM32,
    STM32_ISR = const uart::STM32_ISR,
    STM32_ISR_TXE = const uart::STM32_ISR_TXE,
    STM32_TDR = const uart::STM32_TDR,
    UART_KIND_IMX = const uart::KIND_IMX,
    IMX_UTS = const uart::IMX_UTS,
    IMX_UTS_TXFULL = const uart::IMX_UTS_TXFULL,
    IMX_UTXD = const uart::IMX_UTXD,
    PL011_DR = const uart::PL011_DR,
    PL011_FR = const uart::PL011_FR,
    PL011_FR_TXFF = const uart::PL011_FR_TXFF,
    NS16550_LSR = const uart::NS16550_LSR,
    NS16550_LSR_THRE = const uart::NS16550_LSR_THRE,
    ROOM_WAIT_POLLS = const hypfw_uart::ROOM_WAIT_POLLS,
    PEN_SLOT_SHIFT = const size_of::<PenSlot>().trailing_zeros(),
    PEN_RELEASE = const offset_of!(PenSlot, release),
    PEN_STATUS = const offset_of!(PenSlot, status),
    TEARDOWN_REINIT = const teardown::REINIT,
    TEARDOWN_PEN = const teardown::PEN,
    TEARDOWN_RETURN = const teardown::RETURN,
    RESUME_SHIFT = const size_of::<ResumeSlot>().trailing_zeros(),
    RS_R0 = const offset_of!(ResumeSlot, regs),
    RS_R4 = const offset_of!(ResumeSlot, regs) + 4 * 4,
    RS_LR = const offset_of!(ResumeSlot, regs) + 13 * 4,
    RS_ELR = const offset_of!(ResumeSlot, regs) + 14 * 4,
    RS_SPSR = const offset_of!(ResumeSlot, regs) + 15 * 4,
    RS_PENDING = const offset_of!(ResumeSlot, pending),
    HYPFW_REINIT_LO = const hvc::HYPFW_REINIT & 0xFFFF,
    HYPFW_REINIT_HI = const hvc::HYPFW_REINIT >> 16,
    EC_HVC = const hsr::EC_HVC,
    MAX_CPUS = const layout::MAX_CPUS,
    PSCI_CPU_OFF_LO = const psci::CPU_OFF & 0xFFFF,
    PSCI_CPU_OFF_HI = const psci::CPU_OFF >> 16,
    TRAMPOLINE_HI = const layout::TRAMPOLINE_VA & 0xFF00_0000,
    TRAMPOLINE_LO = const layout::TRAMPOLINE_VA & 0x00FF_0000,
    TRAMPOLINE_VA_HI16 = const layout::TRAMPOLINE_VA >> 16,
    SEMIHOSTING = const cfg!(feature = "semihosting") as u32,
    SYS_WRITE0 = const SYS_WRITE0,
    SYS_EXIT = const SYS_EXIT,
    ADP_STOPPED_INTERNAL_ERROR = const ADP_STOPPED_INTERNAL_ERROR,
    SEMIHOSTING_SVC = const SEMIHOSTING_SVC,
    NSACR_BITS_LO = const NSACR_NS_ACCESS.bits() & 0xFFFF,
    NSACR_BITS_HI = const NSACR_NS_ACCESS.bits() >> 16,
    ACTLR_SMP = const ACTLR_SMP,
    SCR_CLEAR = const SCR_CLEAR.bits(),
    SCR_SET = const SCR_SET.bits(),
    SPSR_HYP_MASKED = const SPSR_HYP_MASKED,
    GICD_IGROUPR = const gic::GICD_IGROUPR,
    GICC_CTLR = const gic::GICC_CTLR,
    GICC_PMR = const gic::GICC_PMR,
    GICC_CTLR_ENABLE_BOTH = const gic::CTLR_ENABLE_BOTH,
    GICC_PMR_ALL = const gic::PMR_ALL,
    GUARD_TEST_MASK = const layout::GUARD_TEST_MASK,
    GUARD_ESCAPE = const layout::GUARD_ESCAPE,
    CTX_LR = const offset_of!(Pl1Context, lr_usr),
    CTX_ELR = const offset_of!(Pl1Context, elr),
    CTX_SPSR = const offset_of!(Pl1Context, spsr),
    PERCPU_HVCS = const abi::PERCPU_HVCS_OFFSET,
    HSR_HVC0 = const abi::HSR_HVC0,
    FID_HYPFW_NULL = const hvc::HYPFW_NULL,
    FID_HYPFW_VERSION = const hvc::HYPFW_VERSION,
    FID_SMCCC_VERSION = const hvc::SMCCC_VERSION,
    HYPFW_API_VERSION = const hvc::HYPFW_API_VERSION,
    SMCCC_VERSION_1_1 = const hvc::SMCCC_VERSION_1_1,
    PERCPU_SMCS = const abi::PERCPU_SMCS_OFFSET,
    EC_SMC = const hsr::EC_SMC,
    PSR_T = const hypfw_core::abi::bits::Psr::T.bits(),
    FID_PSCI_VERSION = const psci::PSCI_VERSION,
    PSCI_VERSION_1_0 = const psci::VERSION_1_0,
);
