//! The payload's stage-2 address space: an identity map of the whole 40-bit IPA space, RAM as
//! normal memory and everything else as device memory, with holes where the payload must never
//! reach (hypfw's reserved region, the GIC virtual interface control block). An access into a hole
//! is a stage-2 fault that the runtime reports and turns into an external abort for the payload.

use crate::mm::addr::{PAGE_SIZE, PhysAddr, align_down, align_up};
use crate::mm::cache::CacheMaintenance;
use crate::mm::layout::MemRange;
use crate::mm::pgtable::{FrameAllocator, IPA_BITS, MapError, S2Attrs, TableBuilder, TableMemory};

/// Most RAM banks + holes handled (each contributes two boundaries).
const MAX_BOUNDS: usize = 2 * (crate::mm::layout::MAX_RAM_BANKS + MAX_HOLES) + 2;
pub const MAX_HOLES: usize = 4;

/// One piece of the IPA space and what it maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece {
    Ram,
    Device,
    Hole,
}

/// Split [0, 2^40) at every boundary of `ram` and `holes` (page-rounded: RAM inwards, holes
/// outwards) and call `f` for each maximal interval with its kind. Holes win over RAM.
pub fn partition(ram: &[MemRange], holes: &[MemRange], mut f: impl FnMut(u64, u64, Piece)) {
    let end = 1u64 << IPA_BITS;
    let ram_r = |r: &MemRange| (align_up(r.base, PAGE_SIZE).min(end), align_down(r.end(), PAGE_SIZE).min(end));
    let hole_r = |r: &MemRange| (align_down(r.base, PAGE_SIZE).min(end), align_up(r.end(), PAGE_SIZE).min(end));
    let mut b = [0u64; MAX_BOUNDS];
    let mut n = 0;
    let mut push = |v: u64| {
        if n < MAX_BOUNDS {
            b[n] = v;
            n += 1;
        }
    };
    push(0);
    push(end);
    for r in ram.iter().take(crate::mm::layout::MAX_RAM_BANKS).filter(|r| r.size > 0) {
        let (s, e) = ram_r(r);
        push(s);
        push(e);
    }
    for h in holes.iter().take(MAX_HOLES).filter(|r| r.size > 0) {
        let (s, e) = hole_r(h);
        push(s);
        push(e);
    }
    let b = &mut b[..n];
    b.sort_unstable();
    let in_any = |x: u64, rs: &[MemRange], conv: &dyn Fn(&MemRange) -> (u64, u64)| {
        rs.iter().filter(|r| r.size > 0).any(|r| {
            let (s, e) = conv(r);
            s <= x && x < e
        })
    };
    let (mut start, mut kind) = (0u64, None);
    for w in b.windows(2) {
        let (a, z) = (w[0], w[1]);
        if a == z {
            continue;
        }
        let k = if in_any(a, holes, &hole_r) {
            Piece::Hole
        } else if in_any(a, ram, &ram_r) {
            Piece::Ram
        } else {
            Piece::Device
        };
        match kind {
            Some(prev) if prev == k => {}
            Some(prev) => {
                f(start, a, prev);
                start = a;
                kind = Some(k);
            }
            None => kind = Some(k),
        }
    }
    if let Some(k) = kind {
        f(start, end, k);
    }
}

/// Map the payload's IPA space into a stage-2 builder: identity, RAM normal RWX, the rest device.
pub fn map_identity<A: FrameAllocator, M: TableMemory, C: CacheMaintenance>(
    b: &mut TableBuilder<'_, A, M, C>,
    ram: &[MemRange],
    holes: &[MemRange],
) -> Result<(), MapError> {
    let mut r = Ok(());
    partition(ram, holes, |s, e, k| {
        if r.is_err() {
            return;
        }
        r = match k {
            Piece::Ram => b.map_ipa(s, PhysAddr(s), e - s, S2Attrs::RAM),
            Piece::Device => b.map_ipa(s, PhysAddr(s), e - s, S2Attrs::DEVICE),
            Piece::Hole => Ok(()),
        };
    });
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::cache::Recorder;
    use crate::mm::pgtable::testmem::{Pool, SimMem};
    use crate::mm::pgtable::{Regime, walk};
    use proptest::prelude::*;

    fn build(ram: &[MemRange], holes: &[MemRange]) -> (SimMem, PhysAddr, usize) {
        let mut mem = SimMem::default();
        let mut pool = Pool::new(0x10_0000_0000, 64);
        let mut rec = Recorder::default();
        let mut b = TableBuilder::with_regime(Regime::Stage2, &mut pool, &mut mem, &mut rec).unwrap();
        map_identity(&mut b, ram, holes).unwrap();
        let root = b.publish();
        let used = pool.handed_out.len();
        (mem, root, used)
    }

    #[test]
    fn qemu_virt_layout() {
        let ram = [MemRange { base: 0x4000_0000, size: 1 << 30 }];
        let holes = [MemRange { base: 0x7FE0_0000, size: 2 << 20 }, MemRange { base: 0x0803_0000, size: 0x1_0000 }];
        let (mem, root, used) = build(&ram, &holes);
        let t = |ipa| walk(&mem, Regime::Stage2, root, ipa);
        let ram_t = t(0x4000_1234).unwrap();
        assert_eq!((ram_t.pa, ram_t.desc.s2_attrs()), (PhysAddr(0x4000_1234), Some(S2Attrs::RAM)));
        assert!(t(0x7FE0_0000).is_none(), "hypfw's region is not mapped");
        assert!(t(0x7FFF_FFFF).is_none());
        assert_eq!(t(0x7FDF_F000).unwrap().desc.s2_attrs(), Some(S2Attrs::RAM));
        assert!(t(0x0803_0000).is_none() && t(0x0803_F000).is_none(), "GICH is not mapped");
        let uart = t(0x0900_0000).unwrap();
        assert_eq!((uart.pa, uart.desc.s2_attrs()), (PhysAddr(0x0900_0000), Some(S2Attrs::DEVICE)));
        // QEMU virt's high PCIe ECAM above 4 GiB is reachable, as a 1 GiB block.
        let ecam = t(0x40_1000_0000).unwrap();
        assert_eq!((ecam.level, ecam.desc.s2_attrs()), (1, Some(S2Attrs::DEVICE)));
        assert!(t(1 << 40).is_none());
        assert!(used <= 8, "stage 2 for QEMU virt takes {used} pages");
        // The bound the region is sized with: the root (2), one page of alignment, two level-2
        // tables (GiB 0 for GICH, GiB 1 for the region), two level-3 tables (GICH's 2 MiB, the
        // region's 2 MiB, whose edge 0x7FE0_0000 is 2 MiB aligned: one).
        assert_eq!(crate::mm::layout::stage2_table_pages(&ram, &holes), 3 + 2 + 1);
        assert!(
            (used as u64) < crate::mm::layout::stage2_table_pages(&ram, &holes),
            "one page spare for the root's alignment"
        );
    }

    /// The 40-bit VTCR, and VTTBR's base alignment (x = 5 - T0SZ = 13: 8 KiB).
    #[test]
    fn vtcr_and_vttbr() {
        use crate::mm::pgtable::{VTCR_40BIT, vttbr};
        assert_eq!(VTCR_40BIT & 0xF, 0x8, "T0SZ = -8");
        assert_eq!((VTCR_40BIT >> 4) & 1, 1, "S = T0SZ[3]");
        assert_eq!((VTCR_40BIT >> 6) & 3, 1, "SL0: start at level 1");
        assert_eq!(vttbr(PhysAddr(0x7FE2_4000), 1), 0x0001_0000_7FE2_4000);
    }

    fn arb_range(max_base: u64) -> impl Strategy<Value = MemRange> {
        (0..max_base, 1u64..(4 << 30)).prop_map(|(b, s)| MemRange { base: b & !0xFFF, size: (s & !0xFFF).max(0x1000) })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Every page is RAM (identity, RWX) if it is in a bank and not in a hole, unmapped if it
        /// is in a hole, device (identity, XN) otherwise. Checked at every boundary and around it.
        #[test]
        fn identity_with_holes(ram in proptest::collection::vec(arb_range(1 << 36), 1..4),
                               holes in proptest::collection::vec(arb_range(1 << 36), 0..3)) {
            let (mem, root, used) = build(&ram, &holes);
            let bound = crate::mm::layout::stage2_table_pages(&ram, &holes);
            prop_assert!((used as u64) < bound, "{used} pages used, bound {bound} (one spare for the root's alignment)");
            let mut probes = vec![0u64, (1 << 40) - 0x1000];
            for r in ram.iter().chain(holes.iter()) {
                for p in [r.base, r.end()] {
                    probes.extend([p.saturating_sub(0x1000), p, p + 0x1000]);
                }
            }
            for ipa in probes.into_iter().filter(|&p| p < 1 << 40).map(|p| p & !0xFFF) {
                let in_hole = holes.iter().any(|h| h.base <= ipa && ipa < h.end());
                let in_ram = ram.iter().any(|r| r.base <= ipa && ipa < r.end());
                let t = walk(&mem, Regime::Stage2, root, ipa);
                match (in_hole, in_ram) {
                    (true, _) => prop_assert!(t.is_none(), "hole {ipa:#x} mapped"),
                    (false, true) => prop_assert_eq!(t.map(|t| (t.pa, t.desc.s2_attrs())), Some((PhysAddr(ipa), Some(S2Attrs::RAM)))),
                    (false, false) => prop_assert_eq!(t.map(|t| (t.pa, t.desc.s2_attrs())), Some((PhysAddr(ipa), Some(S2Attrs::DEVICE)))),
                }
            }
        }
    }
}
