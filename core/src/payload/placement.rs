//! Where the payload, its initrd and its device tree go in RAM (Linux ARM boot protocol:
//! Documentation/arch/arm/booting.rst): the kernel 32 MiB above the start of RAM (a zImage there
//! decompresses below itself without relocating), the device tree and the initrd at the top of
//! low memory, below hypfw's region, and nothing on top of what is still needed while copying.

use crate::mm::addr::{PAGE_SIZE, align_down, align_up};
use crate::mm::layout::MemRange;
use crate::payload::pack::Kind;

pub const KERNEL_OFFSET: u64 = 32 << 20;
/// A zImage must start in the first 128 MiB of RAM: with AUTO_ZRELADDR its decompressor puts the
/// kernel at the 128 MiB boundary below itself (Linux's booting.rst, "Calling the kernel image").
pub const ZIMAGE_WINDOW: u64 = 128 << 20;
/// Room a zImage uses past its own end while it runs (its decompressor's stack, heap and
/// .bss, and the appended-DTB work area): kept free of the initrd and anything in use.
pub const ZIMAGE_SLACK: u64 = 1 << 20;
/// Space for the rewritten device tree.
pub const DTB_MAX: u64 = 1 << 20;
/// Highest offset from the start of RAM that is still low memory for a 3G/1G kernel split, with
/// room to spare (vmalloc area).
pub const LOWMEM_LIMIT: u64 = 512 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub kernel: MemRange,
    pub entry: u64,
    pub initrd: Option<MemRange>,
    pub dtb: MemRange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaceError {
    /// A raw payload must run where the first RAM bank does not hold it whole.
    OutsideRam { payload: MemRange, ram: MemRange },
    /// A raw payload must run over hypfw's own region.
    OverHypfw { payload: MemRange, region: MemRange },
    /// Not enough low memory for kernel, initrd and device tree.
    TooBig { needed: u64, available: u64 },
    /// The chosen place overlaps something still in use (the loaded image, the firmware's DTB).
    Overlap { what: &'static str, with: MemRange },
}

impl core::fmt::Display for PlaceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            PlaceError::OutsideRam { payload: p, ram } => write!(
                f,
                "the payload must run at {:#x}..{:#x}, which the first RAM bank {:#x}..{:#x} does not hold",
                p.base,
                p.end(),
                ram.base,
                ram.end()
            ),
            PlaceError::OverHypfw { payload: p, region } => write!(
                f,
                "the payload must run at {:#x}..{:#x}, over hypfw's own region {:#x}..{:#x}",
                p.base,
                p.end(),
                region.base,
                region.end()
            ),
            PlaceError::TooBig { needed, available } => {
                write!(
                    f,
                    "payload, initrd and device tree need {needed:#x} bytes of low memory, {available:#x} available"
                )
            }
            PlaceError::Overlap { what, with } => {
                write!(f, "the {what} would overwrite {:#x}..{:#x}, which is still in use", with.base, with.end())
            }
        }
    }
}

/// Choose places in `bank` (the first RAM bank) given hypfw's `reserved` region and the ranges
/// that must survive until everything is copied (`busy`).
pub fn place(
    bank: MemRange,
    reserved: MemRange,
    busy: &[MemRange],
    kind: Kind,
    payload_len: u64,
    initrd_len: u64,
) -> Result<Placement, PlaceError> {
    let mut top = bank.end().min(bank.base + LOWMEM_LIMIT);
    if reserved.base >= bank.base && reserved.base < top {
        top = reserved.base;
    }
    // The device tree, then the initrd below it, as high as they go under `top` clear of what
    // is still in use (U-Boot's own initrd, which it may have moved to the top of low memory
    // and which the payload gets when the pack has none); where nothing is free, the usual place,
    // which the check below then refuses with what is there.
    // Not below a zImage's usual place: under it the kernel unpacks itself.
    let floor = if kind == Kind::ZImage { bank.base + KERNEL_OFFSET } else { bank.base };
    let below = |hi: u64, size: u64| {
        highest_free(floor, hi, size, busy)
            .unwrap_or(MemRange { base: align_down(hi.saturating_sub(size), PAGE_SIZE), size })
    };
    let dtb = below(top, DTB_MAX);
    let initrd = (initrd_len > 0).then(|| below(dtb.base, initrd_len));
    let low_end = initrd.map_or(dtb.base, |i| i.base);
    let free = |r: MemRange| r.end() <= low_end && !busy.iter().any(|b| b.size > 0 && b.overlaps(&r));
    let (kernel, entry) = match kind {
        // 32 MiB up, where it decompresses below itself without moving; where something still in
        // use lies there (U-Boot's kernel_addr_r is RAM + 32 MiB on many boards, so the loaded
        // file itself), the first free place above it in the first 128 MiB; else the lowest free
        // place, from which the decompressor first moves itself clear of the kernel it unpacks.
        Kind::ZImage => {
            let size = align_up(payload_len, PAGE_SIZE);
            let usual = MemRange { base: bank.base + KERNEL_OFFSET, size };
            let with_slack = |r: MemRange| MemRange { base: r.base, size: r.size + ZIMAGE_SLACK };
            let k = if free(with_slack(usual)) {
                usual
            } else {
                let window_end = low_end.min(bank.base + ZIMAGE_WINDOW);
                lowest_free(usual.base, window_end, size + ZIMAGE_SLACK, busy)
                    .or_else(|| lowest_free(bank.base, low_end, size + ZIMAGE_SLACK, busy))
                    .map_or(usual, |r| MemRange { base: r.base, size })
            };
            (k, k.base)
        }
        // Relocated for wherever it goes: where a kernel would, or, where RAM is too small for
        // that or something still in use lies there, as low as the relocation granule allows,
        // clear of what is in use: the pack knows only the payload's file size, and what it
        // zeroes past its end (.bss, stacks) then has the most room before the tree.
        Kind::Relocatable { entry_offset, .. } => {
            let size = align_up(payload_len, PAGE_SIZE);
            let usual = MemRange { base: bank.base + KERNEL_OFFSET, size };
            let k = if free(usual) { usual } else { lowest_free(bank.base, low_end, size, busy).unwrap_or(usual) };
            (k, k.base + entry_offset as u64)
        }
        Kind::Raw { load_addr, entry_offset } => {
            let k = MemRange { base: load_addr as u64, size: payload_len };
            if k.base < bank.base || k.end() > bank.end() {
                return Err(PlaceError::OutsideRam { payload: k, ram: bank });
            }
            if k.overlaps(&reserved) {
                return Err(PlaceError::OverHypfw { payload: k, region: reserved });
            }
            (k, k.base + entry_offset as u64)
        }
    };
    if kernel.end() > low_end || dtb.base < bank.base || initrd.is_some_and(|i| i.base < bank.base) {
        return Err(PlaceError::TooBig {
            needed: kernel.end() - bank.base + initrd_len + DTB_MAX,
            available: top - bank.base,
        });
    }
    for (what, r) in [("payload", Some(kernel)), ("initrd", initrd), ("device tree", Some(dtb))] {
        if let Some(r) = r
            && let Some(b) = busy.iter().find(|b| b.size > 0 && b.overlaps(&r))
        {
            return Err(PlaceError::Overlap { what, with: *b });
        }
    }
    Ok(Placement { kernel, entry, initrd, dtb })
}

/// The highest `size` bytes at a page multiple in `lo..hi` that overlap nothing in `busy`.
fn highest_free(lo: u64, hi: u64, size: u64, busy: &[MemRange]) -> Option<MemRange> {
    let mut end = hi;
    loop {
        let base = align_down(end.checked_sub(size)?, PAGE_SIZE);
        if base < lo {
            return None;
        }
        let r = MemRange { base, size };
        // What overlaps starts below r's end, so `end` falls every round.
        match busy.iter().filter(|b| b.size > 0 && b.overlaps(&r)).map(|b| b.base).min() {
            None => return Some(r),
            Some(b) => end = b,
        }
    }
}

/// The lowest `size` bytes at a multiple of the relocation granule (64 KiB) in `lo..hi` that
/// overlap nothing in `busy`.
fn lowest_free(lo: u64, hi: u64, size: u64, busy: &[MemRange]) -> Option<MemRange> {
    const GRANULE: u64 = crate::abi::reloc::GRANULE as u64;
    let mut base = align_up(lo, GRANULE);
    while base + size <= hi {
        let r = MemRange { base, size };
        match busy.iter().filter(|b| b.size > 0 && b.overlaps(&r)).map(|b| b.end()).max() {
            None => return Some(r),
            Some(end) => base = align_up(end, GRANULE),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RES_1G: MemRange = MemRange { base: 0x7FE0_0000, size: 2 << 20 };

    #[test]
    fn qemu_1g_zimage_with_initrd() {
        let bank = MemRange { base: 0x4000_0000, size: 1 << 30 };
        let loaded = MemRange { base: 0x4001_0000, size: 8 << 20 };
        let p = place(bank, RES_1G, &[loaded], Kind::ZImage, 5 << 20, 3 << 20).unwrap();
        assert_eq!(p.kernel.base, 0x4200_0000);
        assert_eq!(p.entry, 0x4200_0000);
        assert_eq!(p.dtb.base, 0x5FF0_0000, "top of low memory (RAM + 512 MiB) minus 1 MiB");
        assert_eq!(p.initrd.unwrap().end(), 0x5FF0_0000);
    }

    #[test]
    fn qemu_128m_keeps_below_the_region() {
        let bank = MemRange { base: 0x4000_0000, size: 128 << 20 };
        let res = MemRange { base: 0x47E0_0000, size: 2 << 20 };
        let p = place(bank, res, &[], Kind::Raw { load_addr: 0x4200_0000, entry_offset: 0 }, 64 << 10, 0).unwrap();
        assert_eq!(p.dtb, MemRange { base: 0x47D0_0000, size: DTB_MAX });
        assert_eq!(p.initrd, None);
    }

    /// A relocatable payload goes where a kernel would, on any RAM base.
    #[test]
    fn relocatable_payloads_follow_the_ram() {
        let bank = MemRange { base: 0x8000_0000, size: 1 << 30 };
        let res = MemRange { base: 0xBFE0_0000, size: 2 << 20 };
        let k = Kind::Relocatable { link_addr: 0x4200_0000, entry_offset: 0x40 };
        let p = place(bank, res, &[], k, 64 << 10, 0).unwrap();
        assert_eq!((p.kernel.base, p.entry), (0x8200_0000, 0x8200_0040));
    }

    /// Where RAM is too small for the usual place (32 MiB of RAM) or something in use lies there,
    /// a relocatable payload goes as low as a 64 KiB multiple allows, clear of what is in use.
    #[test]
    fn relocatable_payloads_fit_small_ram() {
        let k = Kind::Relocatable { link_addr: 0x4200_0000, entry_offset: 0 };
        let bank = MemRange { base: 0x4000_0000, size: 32 << 20 };
        let res = MemRange { base: 0x41FD_8000, size: 0x2_8000 };
        let loaded = MemRange { base: 0x4001_0000, size: 0x4_9000 };
        let p = place(bank, res, &[loaded], k, 94 << 10, 0).unwrap();
        assert_eq!(p.dtb.base, 0x41ED_8000);
        // Above the loaded file, at the next 64 KiB multiple.
        assert_eq!(p.kernel, MemRange { base: 0x4006_0000, size: 0x1_8000 });
        // Something else in use there: the payload goes above that.
        let busy = MemRange { base: 0x4007_0000, size: 0x1000 };
        let p = place(bank, res, &[loaded, busy], k, 94 << 10, 0).unwrap();
        assert_eq!(p.kernel.base, 0x4008_0000);
        // In use at the usual place on a large bank: the same fallback.
        let big = MemRange { base: 0x4000_0000, size: 1 << 30 };
        let at_usual = MemRange { base: 0x4200_0000, size: 0x1000 };
        let p = place(big, RES_1G, &[at_usual], k, 64 << 10, 0).unwrap();
        assert!(!p.kernel.overlaps(&at_usual) && p.kernel.end() <= p.dtb.base, "{p:x?}");
        // No room anywhere: refused as before.
        let tiny = MemRange { base: 0x4000_0000, size: 2 << 20 };
        assert!(matches!(place(tiny, RES_1G, &[], k, 4 << 20, 0), Err(PlaceError::TooBig { .. })));
    }

    #[test]
    fn refusals() {
        let bank = MemRange { base: 0x4000_0000, size: 1 << 30 };
        assert_eq!(
            place(bank, RES_1G, &[], Kind::Raw { load_addr: 0x3000_0000, entry_offset: 0 }, 4096, 0),
            Err(PlaceError::OutsideRam { payload: MemRange { base: 0x3000_0000, size: 4096 }, ram: bank })
        );
        assert!(matches!(place(bank, RES_1G, &[], Kind::ZImage, 600 << 20, 0), Err(PlaceError::TooBig { .. })));
        let over = Kind::Raw { load_addr: 0x7FF0_0000, entry_offset: 0 };
        assert_eq!(
            place(bank, RES_1G, &[], over, 4096, 0),
            Err(PlaceError::OverHypfw { payload: MemRange { base: 0x7FF0_0000, size: 4096 }, region: RES_1G })
        );
        let e = format!("{}", place(bank, RES_1G, &[], over, 4096, 0).unwrap_err());
        assert!(e.contains("0x7ff00000..0x7ff01000") && e.contains("hypfw's own region 0x7fe00000..0x80000000"), "{e}");
    }

    /// A zImage whose usual place (RAM + 32 MiB) is in use goes to the first free place above it
    /// in the first 128 MiB, with room for what its decompressor uses past its end: U-Boot's
    /// kernel_addr_r is RAM + 32 MiB on sunxi (0x42000000), TI AM57xx and i.MX (0x82000000) and
    /// STM32MP1 (0xC2000000), so `bootz ${kernel_addr_r}` of a packed image puts the loaded file
    /// itself there.
    #[test]
    fn a_zimage_whose_usual_place_is_in_use_goes_above_it() {
        for base in [0x4000_0000u64, 0x8000_0000, 0xC000_0000] {
            let bank = MemRange { base, size: 1 << 30 };
            let res = MemRange { base: base + (1 << 30) - (2 << 20), size: 2 << 20 };
            let loaded = MemRange { base: base + KERNEL_OFFSET, size: 0x6A_0000 + 0x1_0000 };
            let p = place(bank, res, &[loaded], Kind::ZImage, 0x69_0000, 0x20_0000).unwrap();
            assert_eq!(p.kernel.base, align_up(loaded.end(), 0x1_0000), "{base:#x}: {p:x?}");
            assert!(p.kernel.end() + ZIMAGE_SLACK <= p.initrd.unwrap().base);
            assert!(p.kernel.base < base + ZIMAGE_WINDOW && p.entry == p.kernel.base);
        }
        // Something in use just past the usual place's end: the slack counts.
        let bank = MemRange { base: 0x4000_0000, size: 1 << 30 };
        let near = MemRange { base: 0x4200_0000 + (4 << 20) + 0x1000, size: 0x1000 };
        let p = place(bank, RES_1G, &[near], Kind::ZImage, 4 << 20, 0).unwrap();
        assert!(p.kernel.base > near.end(), "{p:x?}");
        // No room above in the first 128 MiB: the lowest free place, below.
        let wide = MemRange { base: 0x4200_0000, size: 100 << 20 };
        let p = place(bank, RES_1G, &[wide], Kind::ZImage, 4 << 20, 0).unwrap();
        assert_eq!(p.kernel.base, 0x4000_0000);
    }

    /// An initrd U-Boot left at the top of low memory (`bootz` with its own initrd, moved there
    /// when initrd_high is not set), where the device tree and the pack's initrd would go: both go
    /// below it (before, hypfw stopped with "the device tree would overwrite ...").
    #[test]
    fn the_tree_and_initrd_go_below_what_is_in_use_at_the_top() {
        let bank = MemRange { base: 0x4000_0000, size: 1 << 30 };
        let uboot_initrd = MemRange { base: 0x5FE8_0000, size: 0x13_A7DC };
        let p = place(bank, RES_1G, &[uboot_initrd], Kind::ZImage, 0x53_2000, 0).unwrap();
        assert_eq!(p.dtb, MemRange { base: 0x5FD8_0000, size: DTB_MAX });
        assert_eq!(p.kernel.base, 0x4200_0000);
        let p = place(bank, RES_1G, &[uboot_initrd], Kind::ZImage, 0x53_2000, 0x20_0000).unwrap();
        assert!(p.dtb.end() <= uboot_initrd.base && p.initrd.unwrap().end() <= p.dtb.base, "{p:x?}");
        // Two things in use with a gap between them: the tree in the gap where it fits, else
        // below both.
        let more = MemRange { base: 0x5FC0_0000, size: 0x10_0000 };
        let p = place(bank, RES_1G, &[uboot_initrd, more], Kind::ZImage, 0x53_2000, 0x1000).unwrap();
        assert_eq!(p.dtb.base, 0x5FD8_0000, "the 1.5 MiB gap holds it");
        assert_eq!(p.initrd.unwrap().end(), p.dtb.base, "the rest of the gap holds the initrd: {p:x?}");
        let more = MemRange { base: 0x5FC0_0000, size: 0x20_0000 };
        let p = place(bank, RES_1G, &[uboot_initrd, more], Kind::ZImage, 0x53_2000, 0x1000).unwrap();
        assert_eq!(p.dtb.end(), 0x5FC0_0000, "{p:x?}");
        // Free room only under the zImage's usual place, where the kernel unpacks: not used.
        let top = MemRange { base: 0x4200_0000, size: 0x1E00_0000 };
        assert!(matches!(place(bank, RES_1G, &[top], Kind::ZImage, 0x1000, 0), Err(PlaceError::Overlap { .. })));
        // Nothing free under the top at all: the usual place, refused with what is there.
        let all = MemRange { base: bank.base, size: 512 << 20 };
        assert!(matches!(place(bank, RES_1G, &[all], Kind::ZImage, 0x1000, 0), Err(PlaceError::Overlap { .. })));
    }

    proptest! {
        /// The highest free place is free, inside its bounds, page aligned, and no free place
        /// lies above it.
        #[test]
        fn highest_free_is_the_highest(hi_mib in 1u64..64, size in 1u64..(8 << 20), busy in proptest::collection::vec((0u64..(64 << 20), 1u64..(4 << 20)), 0..4)) {
            let busy: Vec<MemRange> = busy.into_iter().map(|(b, s)| MemRange { base: b, size: s }).collect();
            let hi = hi_mib << 20;
            if let Some(r) = highest_free(0, hi, size, &busy) {
                prop_assert!(r.end() <= hi && r.base % PAGE_SIZE == 0 && r.size == size);
                prop_assert!(!busy.iter().any(|b| b.overlaps(&r)));
                let mut up = r.base + PAGE_SIZE;
                while up + size <= hi {
                    let c = MemRange { base: up, size };
                    prop_assert!(busy.iter().any(|b| b.overlaps(&c)), "{c:x?} is free and above {r:x?}");
                    up += PAGE_SIZE;
                }
            } else {
                let mut b0 = 0;
                while b0 + size <= hi {
                    let c = MemRange { base: b0, size };
                    prop_assert!(busy.iter().any(|b| b.overlaps(&c)), "{c:x?} is free");
                    b0 += PAGE_SIZE;
                }
            }
        }

        /// Whatever is placed lies in the bank, out of hypfw's region and of everything in use,
        /// and pieces never overlap.
        #[test]
        fn placements_are_disjoint_and_inside(
            mib in 64u64..3072,
            plen in 1u64..(40 << 20),
            ilen in 0u64..(64 << 20),
            busy in proptest::collection::vec((0u64..(600 << 20), 1u64..(16 << 20)), 0..3),
        ) {
            let bank = MemRange { base: 0x4000_0000, size: mib << 20 };
            let size = crate::mm::layout::RESERVED_BUDGET;
            let res = crate::mm::layout::choose_reserved_region(bank, size, &[]).unwrap();
            let res = MemRange { base: res.0, size };
            let busy: Vec<MemRange> = busy.into_iter().map(|(o, s)| MemRange { base: bank.base + o, size: s }).collect();
            if let Ok(p) = place(bank, res, &busy, Kind::ZImage, plen, ilen) {
                let parts = [Some(p.kernel), p.initrd, Some(p.dtb)];
                for a in parts.iter().flatten() {
                    prop_assert!(a.base >= bank.base && a.end() <= bank.end());
                    prop_assert!(!a.overlaps(&res));
                    prop_assert!(!busy.iter().any(|b| b.overlaps(a)), "{a:x?} over {busy:x?}");
                    for b in parts.iter().flatten() {
                        prop_assert!(a == b || !a.overlaps(b));
                    }
                }
            }
        }
    }
}
