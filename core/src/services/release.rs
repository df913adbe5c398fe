//! The payload's accesses to the page of a CPU release block ([`CpuRelease`]), which stage 2
//! leaves out. Writes to the block itself are refused: through them the payload could start a
//! CPU at an address of its choice, and that CPU would run outside stage 2 (on QEMU's models in
//! HYP, or in Secure state). Everything else in the page — reads of the block, and the other
//! registers that share its page (Versatile Express's LEDs, clocks and power-off, Allwinner's
//! PRCM clocks) — is carried out for the payload from the abort's syndrome (`mmio`).
//!
//! A PSCI CPU_ON through hypfw is the payload's way to start a CPU; a payload that uses these
//! registers instead (a kernel whose tree has no /psci) gets the refusal where the CPU would
//! have run unconfined.

use crate::mm::addr::{PAGE_SIZE, align_down};
use crate::mm::layout::MemRange;
use crate::platform::dtb::CpuRelease;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Carry the access out on the device, as the payload made it.
    CarryOut,
    /// A write to the release registers: the payload gets the external abort of a hole.
    Refuse,
    /// Not in the page, or not naturally aligned: the abort of a hole (HYP must not make an
    /// unaligned device access on the payload's behalf).
    Abort,
}

/// The stage-2 hole around the block: its page (every block lies in one page, ranges included:
/// `platform::dtb`'s table is checked by the tests here).
pub fn page(r: &CpuRelease) -> MemRange {
    MemRange { base: align_down(r.base as u64, PAGE_SIZE), size: PAGE_SIZE }
}

/// What to do with the payload's `size`-byte access at `ipa`.
pub fn decide(r: &CpuRelease, ipa: u64, size: u32, write: bool) -> Decision {
    let access = MemRange { base: ipa, size: size as u64 };
    let page = page(r);
    if size == 0 || !ipa.is_multiple_of(size as u64) || ipa < page.base || access.end() > page.end() {
        return Decision::Abort;
    }
    if write && (access.overlaps(&r.range()) || access.overlaps(&r.range2())) {
        return Decision::Refuse;
    }
    Decision::CarryOut
}

/// How a CPU parked on a release block is woken once its start address is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// It waits in WFI: an SGI through the GIC distributor (to every CPU but the caller's).
    Sgi,
    /// It waits in WFE: SEV.
    Event,
}

/// The register writes (address, value) that send one parked CPU to `entry`, in order, and how
/// to wake it after them: hypfw's own start of a CPU, where it knows the block's protocol and the
/// platform has no PSCI. `aff0` is the CPU's MPIDR Aff0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    pub writes: [(u32, u32); 3],
    pub len: usize,
    pub wake: Wake,
    /// The block holds one start at a time (Aspeed's "go" word names one CPU), and the writes
    /// themselves start it: hypfw starts cpu1 alone there (the AST2600 has two cores).
    pub one_at_a_time: bool,
}

impl Start {
    pub fn writes(&self) -> &[(u32, u32)] {
        &self.writes[..self.len]
    }
}

/// Aspeed's "go" signature, with the CPU's Aff0 in its low byte.
pub const ASPEED_GO: u32 = 0xABBA_AB00;

/// How hypfw itself starts a CPU parked on `r` at `entry`, where it knows how:
/// - Versatile Express: the board's boot monitor, U-Boot's non-secure pen and QEMU's secondary
///   loop wait in WFI and jump to SYS_FLAGS once it is not 0: SYS_FLAGSCLR (base + 4) clears every
///   bit, SYS_FLAGSSET (base) sets the address, and an SGI wakes them (all at once);
/// - Aspeed AST2600: the second core waits in WFE for the "go" word (base + 4) to hold the
///   signature with its Aff0, then jumps to the address in the first word (base);
/// - the others start CPUs through reset and power controls that need the SoC's clock and power
///   sequences, or in Secure state: `None`.
pub fn start(r: &CpuRelease, entry: u32, aff0: u32) -> Option<Start> {
    use crate::platform::dtb::ReleaseKind as K;
    let w = |writes, len, wake, one_at_a_time| Some(Start { writes, len, wake, one_at_a_time });
    match r.kind {
        K::VexpressFlags => w([(r.base + 4, !0), (r.base, entry), (0, 0)], 2, Wake::Sgi, false),
        K::AspeedSmpMailbox => {
            w([(r.base, 0), (r.base, entry), (r.base + 4, ASPEED_GO | (aff0 & 0xFF))], 3, Wake::Event, true)
        }
        K::AllwinnerCpucfg | K::TiAuxCoreBoot | K::ImxSrc => None,
    }
}

/// Versatile Express's motherboard power controls share the page of SYS_FLAGS: the SYS_CFG
/// interface (SYS_CFGDATA at 0xA0, SYS_CFGCTRL at 0xA4 of the sysreg block). The (offset in the
/// page, value) writes, in order, that ask the motherboard (site 0, position 0, device 0) for
/// SHUTDOWN (function 8) or, with `reboot`, REBOOT (function 9): start, write, the function.
/// Linux's vexpress power-off driver asks the same of the same registers.
pub fn vexpress_power(reboot: bool) -> [(u32, u32); 2] {
    const START_WRITE: u32 = 1 << 31 | 1 << 30;
    let function: u32 = if reboot { 9 } else { 8 };
    [(0xA0, 0), (0xA4, START_WRITE | function << 20)]
}

/// The CPU interfaces a GICv2 distributor implements, from GICD_TYPER.CPUNumber (bits [7:5]):
/// the most CPUs a single-cluster SoC with that GIC can have.
pub fn gic_cpu_interfaces(gicd_typer: u32) -> usize {
    ((gicd_typer >> 5) & 7) as usize + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::dtb::ReleaseKind;
    use proptest::prelude::*;

    use crate::platform::dtb::RELEASE_BLOCKS;

    const FLAGS: CpuRelease = RELEASE_BLOCKS[0];
    const CPUCFG: CpuRelease = RELEASE_BLOCKS[2];
    const SRC: CpuRelease = RELEASE_BLOCKS[5];

    #[test]
    fn vexpress_power_controls_are_in_the_sys_flags_page() {
        assert_eq!(vexpress_power(false), [(0xA0, 0), (0xA4, 0xC080_0000)], "SHUTDOWN of the motherboard");
        assert_eq!(vexpress_power(true), [(0xA0, 0), (0xA4, 0xC090_0000)], "REBOOT of the motherboard");
        let page = page(&FLAGS);
        for (off, _) in vexpress_power(false) {
            let at = page.base + off as u64;
            assert_eq!(decide(&FLAGS, at, 4, true), Decision::CarryOut, "not a release register");
        }
    }

    #[test]
    fn hypfw_starts_vexpress_cpus_through_sys_flags() {
        let s = start(&FLAGS, 0xBFFC_4300, 1).unwrap();
        assert_eq!(s.writes(), &[(0x1C01_0034, 0xFFFF_FFFF), (0x1C01_0030, 0xBFFC_4300)], "clear, then set");
        assert_eq!((s.wake, s.one_at_a_time), (Wake::Sgi, false));
        // The writes stay in the block that stage 2 refuses to the payload.
        for &(a, _) in s.writes() {
            assert_eq!(decide(&FLAGS, a as u64, 4, true), Decision::Refuse);
        }
    }

    #[test]
    fn hypfw_starts_the_ast2600_second_core_through_its_mailbox() {
        let aspeed = RELEASE_BLOCKS.iter().find(|r| r.kind == ReleaseKind::AspeedSmpMailbox).unwrap();
        let s = start(aspeed, 0x9FFC_4300, 0x101).unwrap();
        assert_eq!(
            s.writes(),
            &[(0x1E6E_2180, 0), (0x1E6E_2180, 0x9FFC_4300), (0x1E6E_2184, 0xABBA_AB01)],
            "the address first, the go word (Aff0 only) last"
        );
        assert_eq!((s.wake, s.one_at_a_time), (Wake::Event, true));
        for &(a, _) in s.writes() {
            assert_eq!(decide(aspeed, a as u64, 4, true), Decision::Refuse);
        }
    }

    #[test]
    fn no_start_where_the_release_needs_reset_or_secure_state() {
        for r in RELEASE_BLOCKS
            .iter()
            .filter(|r| !matches!(r.kind, ReleaseKind::VexpressFlags | ReleaseKind::AspeedSmpMailbox))
        {
            assert_eq!(start(r, 0x8000_0000, 1), None, "{r:?}");
        }
    }

    #[test]
    fn gic_cpu_interfaces_from_typer() {
        assert_eq!(gic_cpu_interfaces(0x0000_0000), 1);
        assert_eq!(gic_cpu_interfaces(0x0000_FC24), 2, "GIC-400, 2 CPUs, 160 lines");
        assert_eq!(gic_cpu_interfaces(0x0000_00E7), 8);
    }
    #[test]
    fn every_block_lies_in_its_page() {
        for r in RELEASE_BLOCKS {
            let p = page(&r);
            for g in [r.range(), r.range2()].into_iter().filter(|g| g.size != 0) {
                assert!(p.base <= g.base && g.end() <= p.end(), "{r:?}");
            }
        }
        assert_eq!(FLAGS.kind, ReleaseKind::VexpressFlags);
        assert_eq!((CPUCFG.kind, CPUCFG.base), (ReleaseKind::AllwinnerCpucfg, 0x01F0_1C00));
        assert_eq!(SRC.kind, ReleaseKind::ImxSrc);
    }

    /// Each block's page, and what happens to the accesses that name its registers and their
    /// neighbours: (block, page base, [(address, size, write, decision, why)]).
    #[test]
    fn each_block_refuses_its_registers_and_carries_out_its_page() {
        use Decision::{Abort, CarryOut, Refuse};
        type Case = (u64, u32, bool, Decision, &'static str);
        let cases: [(CpuRelease, u64, &[Case]); 3] = [
            (
                SRC,
                0x3039_0000,
                &[
                    (0x3039_0008, 4, true, Refuse, "A7RCR1: core 1's enable"),
                    (0x3039_007C, 4, true, Refuse, "GPR3: core 1's start address"),
                    (0x3039_0080, 4, true, Refuse, "GPR4: its argument"),
                    (0x3039_0004, 4, true, CarryOut, "A7RCR0"),
                    (0x3039_002C, 4, true, CarryOut, "a PHY reset (Linux's reset driver)"),
                    (0x3039_0084, 4, true, CarryOut, "past GPR4"),
                    (0x3039_007C, 4, false, CarryOut, "reads pass"),
                ],
            ),
            (
                FLAGS,
                0x1C01_0000,
                &[
                    (0x1C01_0030, 4, true, Refuse, "SYS_FLAGSSET"),
                    (0x1C01_003C, 4, true, Refuse, "SYS_NVFLAGSCLR"),
                    (0x1C01_0033, 1, true, Refuse, "a byte of it"),
                    (0x1C01_0030, 4, false, CarryOut, "reading the flags"),
                    (0x1C01_0040, 4, true, CarryOut, "SYS_RESETCTL"),
                    (0x1C01_002C, 4, true, CarryOut, "below the flags"),
                    (0x1C01_00A4, 4, true, CarryOut, "SYS_CFGCTRL (power-off)"),
                    (0x1C01_0000, 4, false, CarryOut, "SYS_ID"),
                    (0x1C01_0FFC, 4, false, CarryOut, "the last word"),
                    (0x1C01_1000, 4, false, Abort, "the next page"),
                    (0x1C00_FFFC, 4, false, Abort, "the page before"),
                    (0x1C01_0002, 4, false, Abort, "unaligned"),
                    (0x1C01_0001, 2, true, Abort, "unaligned halfword"),
                    (0x1C01_0000, 0, false, Abort, "no bytes"),
                ],
            ),
            (
                CPUCFG,
                0x01F0_1000,
                &[
                    (0x01F0_1DA4, 4, true, Refuse, "the start address"),
                    (0x01F0_1C80, 4, true, Refuse, "CPU1's reset control"),
                    (0x01F0_1DA4, 4, false, CarryOut, "reading the start address"),
                    (0x01F0_1428, 4, true, CarryOut, "the PRCM below it"),
                    (0x01F0_1BFE, 2, true, CarryOut, "the halfword below it"),
                ],
            ),
        ];
        for (block, page_base, accesses) in cases {
            assert_eq!(page(&block), MemRange { base: page_base, size: 0x1000 }, "{block:?}");
            for &(ipa, size, write, want, why) in accesses {
                assert_eq!(decide(&block, ipa, size, write), want, "{:?} at {ipa:#x}: {why}", block.kind);
            }
        }
    }

    proptest! {
        /// No write that touches a guarded byte is carried out, whatever its size and place.
        #[test]
        fn no_write_reaches_the_block(off in 0u64..0x1000, size in prop::sample::select(vec![1u32, 2, 4])) {
            for r in RELEASE_BLOCKS {
                let ipa = page(&r).base + off;
                let a = MemRange { base: ipa, size: size as u64 };
                let touches = r.range().overlaps(&a) || r.range2().overlaps(&a);
                if decide(&r, ipa, size, true) == Decision::CarryOut {
                    prop_assert!(!touches && ipa.is_multiple_of(size as u64));
                }
            }
        }
    }
}
