//! The ABI between hypfw's parts: the structures and constants shared between the assembly
//! (`boot/*.S`) and Rust, and between the boot copy of the image and the resident runtime; the
//! hardware bit definitions ([`bits`]); the relocation table format ([`reloc`]). The assembly
//! addresses structure fields through `offset_of!` constants; the tests here pin the layout
//! properties the assembly also relies on.

pub mod bits;
pub mod reloc;

use crate::mm::layout::MAX_CPUS;

/// Size of the boot phase's stack (in the image's .bss, below which a canary is kept).
/// Offset of the served-HVC counter (a u32) in the firmware's per-CPU record, which HTPIDR points
/// at: the vector's fast path counts the calls it answers (the firmware asserts the offset).
pub const PERCPU_HVCS_OFFSET: usize = 12;
/// Offset of the trapped-SMC counter in the same record (the fast path's PSCI_VERSION counts there).
pub const PERCPU_SMCS_OFFSET: usize = 40;

/// HSR of `HVC #0` from A32 or T32 (EC 0x12, IL 1, immediate 0): the fast path's only HVC trigger.
pub const HSR_HVC0: u32 = 0x4A00_0000;

/// The boot phase's deepest use measured is 11,856 bytes with QEMU virt's tree (when the whole
/// stack was painted; now `stack high-water: boot`, printed by the self-test and at the payload's
/// power-off, gives the mark only inside [`BOOT_STACK_WATCH`], and the self-test fails there).
/// A board's tree can be several times larger and nest deeper, so the stack is well over twice
/// that, in whole pages. It is not part of the resident copy, so its size costs the payload nothing
/// once hypfw runs.
pub const BOOT_STACK_SIZE: u32 = 32 * 1024;
/// Words at the bottom of the boot stack that must still hold the canary when the boot phase
/// ends: with the MMU off there is no guard page, and an overflow would silently corrupt .bss.
pub const BOOT_STACK_CANARY_WORDS: usize = 16;
pub const BOOT_STACK_CANARY: u32 = 0xB007_57AC;
/// The lowest bytes of the boot stack, painted with the canary at entry and read back before the
/// hand-over: a boot phase that reached into them came within this much of overflowing. Only this
/// part is painted and read (the part above it is what every boot uses; reading 32 KiB word by
/// word cost ~10k instructions per boot), so the high-water mark is exact only inside it.
pub const BOOT_STACK_WATCH: u32 = 4 * 1024;
const _: () = assert!(
    BOOT_STACK_WATCH as usize >= BOOT_STACK_CANARY_WORDS * 4
        && BOOT_STACK_WATCH.is_multiple_of(64)
        && BOOT_STACK_WATCH <= BOOT_STACK_SIZE / 2
);

/// The boot stack's high-water mark from the words of the watched part ([`BOOT_STACK_WATCH`]) still
/// holding the canary, counted up from the stack's bottom: exact when the boot phase reached into
/// the watched part, else `BOOT_STACK_SIZE - BOOT_STACK_WATCH`, an upper bound.
pub fn boot_stack_peak(untouched_words: usize) -> u32 {
    let untouched = (untouched_words as u32).min(BOOT_STACK_WATCH / 4) * 4;
    BOOT_STACK_SIZE - untouched
}

/// Whether a boot stack mark ([`boot_stack_peak`]) stayed out of the watched part, and so clear of
/// an overflow by at least [`BOOT_STACK_WATCH`] bytes.
pub fn boot_stack_clear(peak: u32) -> bool {
    peak <= BOOT_STACK_SIZE - BOOT_STACK_WATCH
}

/// Whether the canary words at the very bottom survived (else the boot phase overflowed), from the
/// same count as [`boot_stack_peak`].
pub fn boot_stack_canary_intact(untouched_words: usize) -> bool {
    untouched_words >= BOOT_STACK_CANARY_WORDS
}

/// `EarlyInfo::mode_flags`: the bootloader left the MMU of the entry mode on.
pub const ENTRY_MMU_WAS_ON: u32 = 1 << 16;
/// `EarlyInfo::mode_flags`: the bootloader left the data cache of the entry mode on.
pub const ENTRY_DCACHE_WAS_ON: u32 = 1 << 17;

/// What `boot/entry.S` found, built on the boot stack and passed to the boot phase's Rust. The
/// assembly stores each field at its `offset_of!`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EarlyInfo {
    pub r0: u32,
    pub r1: u32,
    pub r2: u32,
    /// CPSR mode bits | ENTRY_* flags.
    pub mode_flags: u32,
    pub load_addr: u32,
    pub cntpct: [u32; 2],
    /// 1 if the image carries no relocation table.
    pub reloc_missing: u32,
    /// Where the bootloader put the image, before any self-move to a 64 KiB multiple: CPUs that
    /// entered with the boot CPU (Secure SVC) wait in that copy's entry pen.
    pub loaded_at: u32,
    pub _pad: u32,
}

/// What `hyp_teardown` (boot/init_page.S) does once the CPU is back in its entry state.
pub mod teardown {
    /// Run the dual-step init again on this CPU (the self-test's re-init cycles).
    pub const REINIT: u32 = 0;
    /// Park in hypfw's pen (hypfw is the PSCI provider).
    pub const PEN: u32 = 1;
    /// PSCI CPU_OFF to the platform firmware.
    pub const CPU_OFF: u32 = 2;
    /// Return to the lower-mode caller saved in HYP_RESUME (HYPFW_TEARDOWN).
    pub const RETURN: u32 = 3;
}

/// MPIDR bits above the affinity fields Aff2.Aff1.Aff0 (U, MT and the RES1 bit 31).
pub const MPIDR_NON_AFFINITY: u32 = 0xFF00_0000;

/// How assembly that fails reports it, and how the init page escapes to its identity map: the
/// record `hypfw_fault_record` in the init page (boot/init_page.S), written by the boot CPU into
/// the resident copy before anything that can fail there runs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultRecord {
    /// Physical address of the console UART (0: none, or not reachable with 32 bits).
    pub uart: u32,
    /// [`uart::KIND_PL011`], [`uart::KIND_NS16550`], [`uart::KIND_SAMSUNG`], [`uart::KIND_STM32`],
    /// [`uart::KIND_IMX`] or 0.
    pub uart_kind: u32,
    /// 16550 registers are `1 << uart_shift` bytes apart.
    pub uart_shift: u32,
    /// 16550 register access width in bytes (1 or 4).
    pub uart_width: u32,
    /// The boot page table (HTTBR low, high).
    pub boot_httbr: [u32; 2],
    /// Physical address of the init page.
    pub init_page_pa: u32,
    pub _pad: u32,
}

/// The UART registers the assembly's fault path writes (MMU off, no driver).
pub mod uart {
    pub const KIND_PL011: u32 = 1;
    pub const KIND_NS16550: u32 = 2;
    pub const KIND_SAMSUNG: u32 = 3;
    pub const KIND_STM32: u32 = 4;
    pub const KIND_IMX: u32 = 5;
    /// PL011 (ARM DDI 0183): data register, flag register, transmit FIFO full flag.
    pub const PL011_DR: u32 = 0x00;
    pub const PL011_FR: u32 = 0x18;
    pub const PL011_FR_TXFF: u32 = 1 << 5;
    /// 8250/16550: line status register index (scaled by the register shift), transmitter
    /// holding register empty.
    pub const NS16550_LSR: u32 = 5;
    pub const NS16550_LSR_THRE: u32 = 1 << 5;
    /// Samsung: transmit status register (transmitter empty) and transmit holding register.
    pub const SAMSUNG_UTRSTAT: u32 = 0x10;
    pub const SAMSUNG_UTRSTAT_TX_EMPTY: u32 = 1 << 2;
    pub const SAMSUNG_UTXH: u32 = 0x20;
    /// STM32 USART, H7 layout (RM0436, USART registers): interrupt and status register, its
    /// "transmit data register empty" (with the FIFO on: "transmit FIFO not full") flag, and the
    /// transmit data register.
    pub const STM32_ISR: u32 = 0x1C;
    pub const STM32_ISR_TXE: u32 = 1 << 7;
    pub const STM32_TDR: u32 = 0x28;
    /// i.MX (i.MX6 and i.MX7 reference manuals, UART chapter): test register with its "transmit
    /// FIFO full" flag, and the transmitter register.
    pub const IMX_UTS: u32 = 0xB4;
    pub const IMX_UTS_TXFULL: u32 = 1 << 4;
    pub const IMX_UTXD: u32 = 0x40;
}

/// GICv2 registers touched in Secure state (ARM IHI 0048B 4.3, 4.4).
pub mod gic {
    pub const GICD_CTLR: usize = 0x000;
    pub const GICD_TYPER: usize = 0x004;
    pub const GICD_IGROUPR: usize = 0x080;
    pub const GICD_SGIR: usize = 0xF00;
    /// GICD_SGIR: SGI 0 to every CPU interface but the writer's (TargetListFilter 0b01).
    pub const SGIR_SGI0_TO_OTHERS: u32 = 1 << 24;
    pub const GICC_CTLR: usize = 0x000;
    pub const GICC_PMR: usize = 0x004;
    /// GICD_CTLR / GICC_CTLR: Group 0 and Group 1 enabled.
    pub const CTLR_ENABLE_BOTH: u32 = 0b11;
    /// GICC_PMR: every priority passes.
    pub const PMR_ALL: u32 = 0xFF;
}

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

/// One CPU's pen mailbox: the release word and the status word in separate cache lines, because
/// the runtime writes one with its caches on and the parked CPU the other with its MMU off.
#[repr(C, align(64))]
pub struct PenSlot {
    pub release: u32,
    pub _pad0: [u32; 15],
    pub status: u32,
    pub _pad1: [u32; 15],
}

/// A PL1 caller's registers kept across a teardown, at a place the init page reaches by PC-relative
/// address with the MMU off: hyp_teardown returns to the caller from here, and the stub's
/// HYPFW_REINIT saves the caller here before it runs the dual-step init again.
#[repr(C, align(64))]
pub struct ResumeSlot {
    /// r0-r12, LR_usr, ELR_hyp, SPSR_hyp.
    pub regs: [u32; 16],
    /// Set by the stub: the runtime must resume this caller after the re-init.
    pub pending: u32,
    pub _pad: [u32; 15],
}

/// The registers of code running at PL1 under the runtime (the payload, or the bare image's
/// self-test stub) as the world switch saves and loads them. HYP mode banks only SP, ELR and
/// SPSR, so the PL1 code's own banked registers (SP_svc, LR_svc, ...) stay in the CPU and need no
/// saving; LR_usr is shared with HYP and is saved here.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Pl1Context {
    pub r: [u32; 13],
    pub lr_usr: u32,
    pub elr: u32,
    pub spsr: u32,
}

impl InitParams {
    pub const ZERO: Self = InitParams {
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
}

impl PenSlot {
    pub const ZERO: Self = PenSlot { release: 0, _pad0: [0; 15], status: 0, _pad1: [0; 15] };
}

impl ResumeSlot {
    pub const ZERO: Self = ResumeSlot { regs: [0; 16], pending: 0, _pad: [0; 15] };
}

/// Is `spsr` a mode the runtime may return a lower-level caller to (PL0 or PL1, not Monitor or
/// HYP)? A context saved while HYP was torn down sat in memory the caller could write.
pub fn is_lower_mode(spsr: u32) -> bool {
    bits::Mode::of(spsr).is_some_and(bits::Mode::is_pl0_or_pl1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, offset_of, size_of};

    /// Phase 2 pushes PhaseEvidence as 8 registers: it must be exactly that, a multiple of 8
    /// bytes (AAPCS stack alignment at the runtime entry), with the fields in push order.
    #[test]
    fn phase_evidence_matches_the_push() {
        assert_eq!(size_of::<PhaseEvidence>(), 8 * 4);
        assert_eq!(offset_of!(PhaseEvidence, t_phase2), 0); // r2, r3
        assert_eq!(offset_of!(PhaseEvidence, phase1_httbr_lo), 8); // r4
        assert_eq!(offset_of!(PhaseEvidence, phase1_hsctlr), 12); // r5
        assert_eq!(offset_of!(PhaseEvidence, t_phase1), 16); // r6, r7
        assert_eq!(offset_of!(PhaseEvidence, entry_hsctlr), 28); // lr, pushed last
    }

    /// The pen and resume slots are indexed with a shift in assembly: power-of-two sizes; the
    /// words written from both sides of the cache lie in different 64-byte lines.
    #[test]
    fn mailbox_slots_are_shift_indexed_and_line_separated() {
        assert!(size_of::<PenSlot>().is_power_of_two());
        assert!(size_of::<ResumeSlot>().is_power_of_two());
        assert_eq!(align_of::<PenSlot>(), 64);
        assert_ne!(offset_of!(PenSlot, release) / 64, offset_of!(PenSlot, status) / 64);
        assert_ne!(offset_of!(ResumeSlot, regs) / 64, offset_of!(ResumeSlot, pending) / 64);
    }

    /// The watched part of the boot stack: untouched gives the bound, a use reaching into it the
    /// exact mark, and only a use reaching the canary words counts as an overflow.
    #[test]
    fn boot_stack_marks() {
        let all = BOOT_STACK_WATCH as usize / 4;
        assert_eq!(boot_stack_peak(all), BOOT_STACK_SIZE - BOOT_STACK_WATCH);
        assert!(boot_stack_clear(boot_stack_peak(all)) && boot_stack_canary_intact(all));
        assert_eq!(boot_stack_peak(all - 1), BOOT_STACK_SIZE - BOOT_STACK_WATCH + 4);
        assert!(!boot_stack_clear(boot_stack_peak(all - 1)), "one word into the watched part is too close");
        assert!(boot_stack_canary_intact(BOOT_STACK_CANARY_WORDS));
        assert!(!boot_stack_canary_intact(BOOT_STACK_CANARY_WORDS - 1), "a canary word overwritten");
        assert_eq!(boot_stack_peak(0), BOOT_STACK_SIZE);
        assert_eq!(boot_stack_peak(all + 100), boot_stack_peak(all), "a count past the watched part is not trusted");
    }

    /// The world switch loads r0-r12 with one LDM from the start of the context, then LR, ELR
    /// and SPSR from fixed offsets.
    #[test]
    fn guest_context_layout() {
        assert_eq!(offset_of!(Pl1Context, r), 0);
        assert_eq!(offset_of!(Pl1Context, lr_usr), 13 * 4);
        assert_eq!(offset_of!(Pl1Context, elr), 14 * 4);
        assert_eq!(offset_of!(Pl1Context, spsr), 15 * 4);
    }

    /// The init page indexes the per-CPU arrays with `ldr rX, [base, cpu, lsl #2]`.
    #[test]
    fn init_params_arrays_are_word_arrays() {
        assert_eq!(offset_of!(InitParams, percpu_va) - offset_of!(InitParams, stack_top_va), 4 * MAX_CPUS);
        assert_eq!(offset_of!(InitParams, boot_httbr) % 4, 0);
        assert!(offset_of!(InitParams, cntfrq) < 4096, "within an immediate offset of the base");
    }

    /// entry.S stores EarlyInfo with word stores at these offsets and reserves its size, which
    /// must keep the boot stack 8-byte aligned.
    #[test]
    fn early_info_is_a_word_array() {
        assert_eq!(size_of::<EarlyInfo>() % 8, 0);
        assert_eq!(offset_of!(EarlyInfo, cntpct) + 4, offset_of!(EarlyInfo, reloc_missing) - 4);
    }

    #[test]
    fn only_pl0_and_pl1_modes_are_resumed() {
        for m in [0x10, 0x11, 0x12, 0x13, 0x17, 0x1B, 0x1F] {
            assert!(is_lower_mode(0x1C0 | m), "mode {m:#x}");
        }
        for m in [0x16, 0x1A, 0x00, 0x15] {
            assert!(!is_lower_mode(0x1C0 | m), "mode {m:#x}");
        }
    }
}
