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

    #[test]
    fn imx7_src_two_ranges() {
        assert_eq!(page(&SRC), MemRange { base: 0x3039_0000, size: 0x1000 });
        assert_eq!(decide(&SRC, 0x3039_0008, 4, true), Decision::Refuse, "A7RCR1: core 1's enable");
        assert_eq!(decide(&SRC, 0x3039_007C, 4, true), Decision::Refuse, "GPR3: core 1's start address");
        assert_eq!(decide(&SRC, 0x3039_0080, 4, true), Decision::Refuse, "GPR4: its argument");
        assert_eq!(decide(&SRC, 0x3039_0004, 4, true), Decision::CarryOut, "A7RCR0");
        assert_eq!(decide(&SRC, 0x3039_002C, 4, true), Decision::CarryOut, "a PHY reset (Linux's reset driver)");
        assert_eq!(decide(&SRC, 0x3039_0084, 4, true), Decision::CarryOut, "past GPR4");
        assert_eq!(decide(&SRC, 0x3039_007C, 4, false), Decision::CarryOut, "reads pass");
    }

    #[test]
    fn vexpress_flags() {
        assert_eq!(page(&FLAGS), MemRange { base: 0x1C01_0000, size: 0x1000 });
        assert_eq!(decide(&FLAGS, 0x1C01_0030, 4, true), Decision::Refuse, "SYS_FLAGSSET");
        assert_eq!(decide(&FLAGS, 0x1C01_003C, 4, true), Decision::Refuse, "SYS_NVFLAGSCLR");
        assert_eq!(decide(&FLAGS, 0x1C01_0033, 1, true), Decision::Refuse, "a byte of it");
        assert_eq!(decide(&FLAGS, 0x1C01_0030, 4, false), Decision::CarryOut, "reading the flags");
        assert_eq!(decide(&FLAGS, 0x1C01_0040, 4, true), Decision::CarryOut, "SYS_RESETCTL");
        assert_eq!(decide(&FLAGS, 0x1C01_002C, 4, true), Decision::CarryOut, "below the flags");
        assert_eq!(decide(&FLAGS, 0x1C01_00A4, 4, true), Decision::CarryOut, "SYS_CFGCTRL (power-off)");
        assert_eq!(decide(&FLAGS, 0x1C01_0000, 4, false), Decision::CarryOut, "SYS_ID");
        assert_eq!(decide(&FLAGS, 0x1C01_0FFC, 4, false), Decision::CarryOut, "the last word");
    }

    #[test]
    fn allwinner_cpucfg_and_its_page() {
        assert_eq!(page(&CPUCFG), MemRange { base: 0x01F0_1000, size: 0x1000 });
        assert_eq!(decide(&CPUCFG, 0x01F0_1DA4, 4, true), Decision::Refuse, "the start address");
        assert_eq!(decide(&CPUCFG, 0x01F0_1C80, 4, true), Decision::Refuse, "CPU1's reset control");
        assert_eq!(decide(&CPUCFG, 0x01F0_1DA4, 4, false), Decision::CarryOut);
        assert_eq!(decide(&CPUCFG, 0x01F0_1428, 4, true), Decision::CarryOut, "the PRCM below it");
        assert_eq!(decide(&CPUCFG, 0x01F0_1BFE, 2, true), Decision::CarryOut, "the halfword below it");
    }

    #[test]
    fn outside_or_unaligned() {
        assert_eq!(decide(&FLAGS, 0x1C01_1000, 4, false), Decision::Abort, "the next page");
        assert_eq!(decide(&FLAGS, 0x1C00_FFFC, 4, false), Decision::Abort, "the page before");
        assert_eq!(decide(&FLAGS, 0x1C01_0002, 4, false), Decision::Abort, "unaligned");
        assert_eq!(decide(&FLAGS, 0x1C01_0001, 2, true), Decision::Abort, "unaligned halfword");
        assert_eq!(decide(&FLAGS, 0x1C01_0000, 0, false), Decision::Abort);
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
