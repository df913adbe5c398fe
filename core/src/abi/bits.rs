//! Hardware bit definitions, once: every value hypfw writes to a control register is built here
//! from named fields (ARM DDI 0406C, sections cited per register), and the assembly receives the
//! values derived from these through `global_asm!` constants.
//!
//! `aarch32-cpu` has typed views of some of these registers, but only for Arm targets (its `hyp`
//! module is compiled for ARMv7-A/ARMv8-R only), so host-tested code cannot build values with
//! them; and its HSCTLR is the ARMv8-R layout (an MPU enable where ARMv7 has the MMU, no RES1
//! bits). The firmware's arch layer hands these raw values to `aarch32-cpu`'s accessors.

use bitflags::bitflags;

bitflags! {
    /// HCR, Hyp Configuration Register (B4.1.65). BSU is a two-bit field: see the BSU_* values.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Hcr: u32 {
        /// Stage-2 translation for the Non-secure PL0/PL1 regime.
        const VM = 1 << 0;
        /// Set/way invalidation upgraded to clean+invalidate.
        const SWIO = 1 << 1;
        const PTW = 1 << 2;
        const FMO = 1 << 3;
        const IMO = 1 << 4;
        const AMO = 1 << 5;
        const VF = 1 << 6;
        const VI = 1 << 7;
        const VA = 1 << 8;
        /// TLB and branch-predictor maintenance broadcast in the Inner Shareable domain.
        const FB = 1 << 9;
        /// Barrier shareability upgrade: Inner Shareable.
        const BSU_INNER = 0b01 << 10;
        const BSU_OUTER = 0b10 << 10;
        const BSU_FULL = 0b11 << 10;
        const DC = 1 << 12;
        const TWI = 1 << 13;
        const TWE = 1 << 14;
        const TID0 = 1 << 15;
        const TID1 = 1 << 16;
        const TID2 = 1 << 17;
        const TID3 = 1 << 18;
        /// SMC from PL1 traps to HYP (the PSCI proxy).
        const TSC = 1 << 19;
        const TIDCP = 1 << 20;
        const TAC = 1 << 21;
        const TSW = 1 << 22;
        const TPC = 1 << 23;
        const TPU = 1 << 24;
        const TTLB = 1 << 25;
        const TVM = 1 << 26;
        const TGE = 1 << 27;
    }
}

/// HCR while the payload runs: stage 2, set/way invalidation upgraded to clean+invalidate, SMC
/// trapped for the PSCI proxy. IMO, FMO and AMO stay clear: the payload owns the GIC and its
/// interrupts go straight to it.
///
/// FB and BSU stay clear too. They exist for hypervisors that move a virtual CPU from one physical
/// CPU to another: its stale TLB entries are then left on the CPU it ran on before, so its local
/// TLB and branch-predictor maintenance must reach every CPU (FB), and its barriers must cover
/// the CPUs it may share data with (BSU). hypfw never moves one: the payload's CPU n is physical
/// CPU n for its whole life (CPU_ON starts the very CPU it names), and every entry into the
/// payload starts from a TLB invalidated for the payload's regime on that CPU. Forcing the
/// broadcast only costs: on hardware every local invalidation becomes an Inner Shareable one,
/// and under QEMU (multi-threaded TCG) each becomes a flush synchronised across every vCPU
/// (docs/performance.md, "Linux under hypfw vs direct", has what that measured to).
///
/// TAC traps the payload's ACTLR accesses: ACTLR.SMP is the one bit Non-secure PL1 may write (with
/// NSACR.NS_SMP, which the Secure firmware and hypfw's monitor set), and a CPU whose SMP bit is
/// clear leaves coherency, its HYP code included, while hypfw's per-CPU data and locks rely on it.
/// hypfw answers reads with the real value and ignores writes (`runtime::exits`).
pub const HCR_PAYLOAD: Hcr = Hcr::VM.union(Hcr::SWIO).union(Hcr::TSC).union(Hcr::TAC);

bitflags! {
    /// HSCTLR, Hyp System Control Register (B4.1.67).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Hsctlr: u32 {
        /// Stage-1 MMU for HYP.
        const M = 1 << 0;
        const A = 1 << 1;
        /// Data and unified caches.
        const C = 1 << 2;
        const CP15BEN = 1 << 5;
        /// Instruction cache.
        const I = 1 << 12;
        /// Every writable page is execute-never.
        const WXN = 1 << 19;
        const FI = 1 << 21;
        const EE = 1 << 25;
        const TE = 1 << 30;
        /// Bits that read as one and must be written as one on ARMv7: 3-6, 11, 16, 18, 22, 23,
        /// 28, 29.
        const RES1 = 0x30C5_0878;
    }
}

/// HSCTLR for the runtime: RES1, the MMU, D- and I-cache, and WXN so that no writable page can
/// ever be executed.
pub const HSCTLR_RUNTIME: Hsctlr = Hsctlr::RES1.union(Hsctlr::M).union(Hsctlr::C).union(Hsctlr::I).union(Hsctlr::WXN);

bitflags! {
    /// SCTLR, the PL1 System Control Register (B4.1.130): the bits hypfw reads or changes, in the
    /// payload's regime and (at entry) in the bootloader's.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Sctlr: u32 {
        const M = 1 << 0;
        const C = 1 << 2;
        /// Instruction cache.
        const I = 1 << 12;
        /// High exception vectors (0xFFFF0000).
        const V = 1 << 13;
        const EE = 1 << 25;
        /// Exceptions taken in Thumb state.
        const TE = 1 << 30;
    }
}

/// Processor modes, CPSR/SPSR.M[4:0] (B1.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Mode {
    Usr = 0x10,
    Fiq = 0x11,
    Irq = 0x12,
    Svc = 0x13,
    Mon = 0x16,
    Abt = 0x17,
    Hyp = 0x1A,
    Und = 0x1B,
    Sys = 0x1F,
}

impl Mode {
    pub const MASK: u32 = 0x1F;

    /// The mode of a PSR value, None for an encoding that names no mode.
    pub const fn of(psr: u32) -> Option<Mode> {
        Some(match psr & Self::MASK {
            0x10 => Mode::Usr,
            0x11 => Mode::Fiq,
            0x12 => Mode::Irq,
            0x13 => Mode::Svc,
            0x16 => Mode::Mon,
            0x17 => Mode::Abt,
            0x1A => Mode::Hyp,
            0x1B => Mode::Und,
            0x1F => Mode::Sys,
            _ => return None,
        })
    }

    pub const fn bits(self) -> u32 {
        self as u32
    }

    /// The three-letter name. (Cut from one string: a `match` of string literals compiles to a
    /// table of pointers, words the boot has to relocate.)
    pub fn name(self) -> &'static str {
        const NAMES: &str = "USRFIQIRQSVCMONABTHYPUNDSYS";
        let i = match self {
            Mode::Usr => 0,
            Mode::Fiq => 1,
            Mode::Irq => 2,
            Mode::Svc => 3,
            Mode::Mon => 4,
            Mode::Abt => 5,
            Mode::Hyp => 6,
            Mode::Und => 7,
            Mode::Sys => 8,
        };
        NAMES.get(3 * i..3 * i + 3).unwrap_or_default()
    }

    /// PL0 or PL1: a mode the runtime may return a lower-level caller to.
    pub const fn is_pl0_or_pl1(self) -> bool {
        !matches!(self, Mode::Mon | Mode::Hyp)
    }
}

/// The name of the mode in a PSR value ("invalid" for an encoding that names none).
pub fn mode_name(psr: u32) -> &'static str {
    match Mode::of(psr) {
        Some(m) => m.name(),
        None => "invalid",
    }
}

bitflags! {
    /// CPSR/SPSR bits other than the mode (B1.3.3).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Psr: u32 {
        /// Thumb state.
        const T = 1 << 5;
        /// FIQ masked.
        const F = 1 << 6;
        /// IRQ masked.
        const I = 1 << 7;
        /// Asynchronous abort masked.
        const A = 1 << 8;
        /// Big-endian data.
        const E = 1 << 9;
    }
}

/// A PSR value: `mode` with the `flags`.
pub const fn psr(mode: Mode, flags: Psr) -> u32 {
    mode.bits() | flags.bits()
}

const MASKED: Psr = Psr::A.union(Psr::I).union(Psr::F);
/// SVC, ARM state, IRQ, FIQ and asynchronous aborts masked: how the payload (and the self-test's
/// PL1 stub) is entered.
pub const SPSR_SVC_MASKED: u32 = psr(Mode::Svc, MASKED);
/// HYP with everything masked: where the monitor returns to.
pub const SPSR_HYP_MASKED: u32 = psr(Mode::Hyp, MASKED);

bitflags! {
    /// SCR, Secure Configuration Register (B4.1.129), written by hypfw's monitor.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Scr: u32 {
        const NS = 1 << 0;
        const IRQ = 1 << 1;
        const FIQ = 1 << 2;
        const EA = 1 << 3;
        /// Non-secure code may mask FIQs (CPSR.F).
        const FW = 1 << 4;
        /// Non-secure code may mask asynchronous aborts (CPSR.A).
        const AW = 1 << 5;
        const NET = 1 << 6;
        const SCD = 1 << 7;
        /// HVC enabled.
        const HCE = 1 << 8;
    }
}

/// SCR bits the monitor clears: interrupts and aborts stay with the Non-secure world, SMC stays
/// enabled (PSCI).
pub const SCR_CLEAR: Scr = Scr::IRQ.union(Scr::FIQ).union(Scr::EA).union(Scr::NET).union(Scr::SCD);
/// SCR bits the monitor sets: Non-secure, FIQ and abort masking allowed there, HVC enabled.
pub const SCR_SET: Scr = Scr::NS.union(Scr::FW).union(Scr::AW).union(Scr::HCE);

bitflags! {
    /// NSACR, Non-Secure Access Control Register (B4.1.111).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Nsacr: u32 {
        /// Non-secure access to coprocessors 0-13 (CP10/CP11 are VFP/Advanced SIMD).
        const CP0_13 = 0x3FFF;
        /// Cortex-A15/A7: Non-secure writes to ACTLR.SMP allowed (implementation defined bit 18).
        const NS_SMP = 1 << 18;
    }
}

/// NSACR bits the monitor sets before leaving Secure state.
pub const NSACR_NS_ACCESS: Nsacr = Nsacr::CP0_13.union(Nsacr::NS_SMP);

/// ACTLR.SMP (Cortex-A15/A7 TRMs, 4.3.31): the CPU takes part in coherency.
pub const ACTLR_SMP: u32 = 1 << 6;

/// CNTHCTL (B4.1.26): PL1 may read the physical counter (PL1PCTEN) and use the physical timer
/// (PL1PCEN).
pub const CNTHCTL_PL1_TIMER: u32 = 0b11;
/// CNTHCTL.EVNTEN with EVNTI = 15 (B4.1.26, B8.1.5): an event each time bit 15 of the physical
/// count goes 0 -> 1, every 2^16 ticks (about 1 ms at QEMU's 62.5 MHz, 2.7 ms at 24 MHz). It bounds
/// every WFE of hypfw's waits, so a CPU that never signals cannot keep a waiter asleep past its
/// timeout. Spurious WFE wake-ups are architecturally allowed at PL1 too, so the payload loses
/// nothing (Linux sets its own, faster, stream through CNTKCTL).
pub const CNTHCTL_EVENT_STREAM: u32 = 1 << 2 | 15 << 4;
/// HDCR.HPMN (B4.1.66): the field kept when every debug and monitor trap is cleared.
pub const HDCR_HPMN: u32 = 0x1F;

#[cfg(test)]
mod tests {
    use super::*;

    /// The values the runtime used to spell as literals, bit for bit.
    #[test]
    fn derived_values_are_the_architectural_ones() {
        assert_eq!(HCR_PAYLOAD.bits(), 0x0028_0003); // VM, SWIO, TSC (bit 19), TAC (bit 21)
        assert_eq!(HSCTLR_RUNTIME.bits(), 0x30CD_187D);
        assert_eq!(SPSR_SVC_MASKED, 0x1D3);
        assert_eq!(SPSR_HYP_MASKED, 0x1DA);
        assert_eq!(SCR_CLEAR.bits(), 0b1100_1110);
        assert_eq!(SCR_SET.bits(), 0x131);
        assert_eq!(NSACR_NS_ACCESS.bits(), 0x4_3FFF);
    }

    #[test]
    fn modes() {
        assert_eq!(Mode::of(0x6000_01D3), Some(Mode::Svc));
        assert_eq!(Mode::of(0x15), None);
        assert_eq!(mode_name(0x1A), "HYP");
        assert_eq!(mode_name(0x00), "invalid");
        for m in [0x10, 0x11, 0x12, 0x13, 0x17, 0x1B, 0x1F] {
            assert!(Mode::of(m).unwrap().is_pl0_or_pl1());
        }
        assert!(!Mode::Hyp.is_pl0_or_pl1() && !Mode::Mon.is_pl0_or_pl1());
    }
}
