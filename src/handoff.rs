//! The structures shared between the assembly (boot/*.S) and Rust, and between the boot copy of
//! the image and the resident runtime. The assembly addresses their fields through `offset_of!`
//! constants; the tests here pin the layout properties the assembly also relies on.

use crate::layout::MAX_CPUS;

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

/// A guest's registers kept across a teardown, at a place the init page reaches by PC-relative
/// address with the MMU off: hyp_teardown returns to the caller from here, and the stub's
/// HYPFW_REINIT saves the caller here before it runs the dual-step init again.
#[repr(C, align(64))]
pub struct ResumeSlot {
    /// r0-r12, LR_usr, ELR_hyp, SPSR_hyp.
    pub regs: [u32; 16],
    /// Set by the stub: the runtime must resume this guest after the re-init.
    pub pending: u32,
    pub _pad: [u32; 15],
}

/// A PL1 guest's registers as the world switch saves and loads them. HYP mode banks only SP,
/// ELR and SPSR, so the guest's own banked registers (SP_svc, LR_svc, ...) stay in the CPU and
/// need no saving; LR_usr is shared with HYP and is saved here.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestContext {
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
    matches!(spsr & 0x1F, 0x10 | 0x11 | 0x12 | 0x13 | 0x17 | 0x1B | 0x1F)
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

    /// The world switch loads r0-r12 with one LDM from the start of the context, then LR, ELR
    /// and SPSR from fixed offsets.
    #[test]
    fn guest_context_layout() {
        assert_eq!(offset_of!(GuestContext, r), 0);
        assert_eq!(offset_of!(GuestContext, lr_usr), 13 * 4);
        assert_eq!(offset_of!(GuestContext, elr), 14 * 4);
        assert_eq!(offset_of!(GuestContext, spsr), 15 * 4);
    }

    /// The init page indexes the per-CPU arrays with `ldr rX, [base, cpu, lsl #2]`.
    #[test]
    fn init_params_arrays_are_word_arrays() {
        assert_eq!(offset_of!(InitParams, percpu_va) - offset_of!(InitParams, stack_top_va), 4 * MAX_CPUS);
        assert_eq!(offset_of!(InitParams, boot_httbr) % 4, 0);
        assert!(offset_of!(InitParams, cntfrq) < 4096, "within an immediate offset of the base");
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
