//! The boot phase's cached window: the payload copy, its checksum and its relocation, and the
//! resident copy of hypfw's own image and its relocation, run with the
//! HYP MMU, D-cache and I-cache on, over a temporary identity map, instead of uncached (a 7 MB copy
//! with every access going to memory costs seconds on a Cortex-A15 board; QEMU models no caches,
//! so it does not show there).
//!
//! What is mapped: only what the bulk work touches, identity, each range page rounded and grown to
//! 2 MiB boundaries where the growth stays inside one RAM bank and clear of everything `avoid`
//! lists (so fewer table pages are needed, and no memory the device tree reserves, which may be
//! Secure-only, is ever mapped cacheable for a speculative access to reach): the image's code
//! (read-only, executable), the rest of the loaded file with the boot stack and the pack (read and
//! write), the payload's destinations and the pages of hypfw's resident copy (read and write), and
//! the console (Device, execute-never).
//! Nothing else, so no device is ever mapped Normal.
//!
//! The order ([`open`], [`close`]), checked below through the recorder and a small write-back cache
//! model (ARM DDI 0406C B2.2 caches and their maintenance, B3 VMSA, B4.1.67 HSCTLR):
//! - open: DSB (the table, written with the MMU off and published, is complete); ACTLR.SMP,
//!   HMAIR0/1, HTCR, HTTBR; ISB; TLBIALLH + ICIALLU/BPIALL (nothing stale from before); DSB; ISB; HSCTLR.M|C|I;
//!   ISB. No data line can be stale at that point: entry cleaned and invalidated every level when
//!   it found the caches on, and from then on HSCTLR.C was 0, so nothing was allocated.
//! - work: ordinary loads and stores; **no invalidation by address** (DCIMVAC would discard
//!   dirty data written inside the window: `coherency::written_uncached` and the page-table
//!   builder are for MMU-off writes and run after [`close`]).
//! - close: DSB; then one sequence that makes no memory access in between: HSCTLR.M|C|I := 0,
//!   ISB, clean+invalidate every data/unified level to the LoC by set/way, DSB (allowed while no
//!   other CPU runs hypfw code: the secondaries are off or parked in MMU-off code reading only
//!   their own pen words); then ICIALLU/BPIALL and TLBIALLH, DSB, ISB.
//!
//! After [`close`] memory holds every write of the window and no cache holds any line, so what the
//! window wrote needs no further maintenance by address before a cacheable reader (the payload)
//! uses it, and the boot phase continues with the MMU off as before.

use crate::mm::addr::{PAGE_SIZE, PhysAddr, align_down, align_up};
use crate::mm::cache::CacheMaintenance;
use crate::mm::layout::MemRange;
use crate::mm::pgtable::{L2_BLOCK, MapAttrs};

/// The operations the window needs besides [`CacheMaintenance`].
pub trait WindowControl: CacheMaintenance {
    /// ACTLR.SMP set (as the init page does, before any cache comes on), HMAIR0/1 and HTCR to
    /// hypfw's values and HTTBR := `root`; the MMU state is not changed.
    fn load_tables(&mut self, root: PhysAddr);
    /// HSCTLR.M, C and I := 1.
    fn mmu_caches_on(&mut self);
    /// HSCTLR.M, C and I := 0, ISB, every data and unified cache level cleaned and invalidated
    /// by set/way up to the Level of Coherency, DSB: one sequence with no other memory access in
    /// it (a load or store between switching C off and the clean could miss a dirty line).
    fn mmu_caches_off_clean_all(&mut self);
}

/// Turn the MMU and both caches on with the window's table at `root`.
pub fn open<W: WindowControl + ?Sized>(w: &mut W, root: PhysAddr) {
    w.dsb();
    w.load_tables(root);
    w.isb();
    w.tlbi_all_hyp();
    w.invalidate_icache();
    w.dsb();
    w.isb();
    w.mmu_caches_on();
    w.isb();
}

/// Turn them off again, with every write of the window in memory and no line left in any cache.
pub fn close<W: WindowControl + ?Sized>(w: &mut W) {
    w.dsb();
    w.mmu_caches_off_clean_all();
    w.invalidate_icache();
    w.tlbi_all_hyp();
    w.dsb();
    w.isb();
}

/// [`open`], `work`, [`close`]; `work`'s result is returned after the close (a failure it reports
/// is acted on with the MMU off).
pub fn run<W: WindowControl + ?Sized, R>(w: &mut W, root: PhysAddr, work: impl FnOnce() -> R) -> R {
    open(w, root);
    let r = work();
    close(w);
    r
}

/// Ranges of each kind the window maps at most.
pub const MAX_DATA: usize = 6;
pub const MAX_DEVICES: usize = 2;
/// Ranges `plan` keeps its growth clear of: the loaded file, the firmware's tree, the parked
/// CPUs' pen page, every platform reservation and hypfw's region.
pub const MAX_AVOID: usize = 24;
pub const MAX_ENTRIES: usize = 1 + MAX_DATA + MAX_DEVICES;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowError {
    /// More ranges than the plan holds.
    TooMany,
    /// A range at or above 4 GiB: the identity map has 32-bit VAs.
    Above4G(MemRange),
    /// A range in no RAM bank (or across a bank's end).
    NotInRam(MemRange),
    /// Two ranges of different kinds share a page.
    Overlap(MemRange, MemRange),
    /// No scratch pages for the table (in use already, or too few).
    NoPages,
    /// The table builder refused a range of the plan.
    Refused(MemRange),
}

impl core::fmt::Display for WindowError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (what, r) = match self {
            WindowError::TooMany => ("more ranges than its map holds", MemRange::default()),
            WindowError::Above4G(r) => ("a range above 4 GiB", *r),
            WindowError::NotInRam(r) => ("a range in no single RAM bank", *r),
            WindowError::Overlap(r, _) => ("a range sharing a page with another kind", *r),
            WindowError::NoPages => ("no scratch pages for its table", MemRange::default()),
            WindowError::Refused(r) => ("its table refused a range", *r),
        };
        write!(f, "{what}: {:#x}..{:#x}", r.base, r.end())
    }
}

/// The window's identity map: (range, attributes) pairs, page aligned, disjoint.
#[derive(Clone, Copy, Debug)]
pub struct WindowPlan {
    entries: [(MemRange, MapAttrs); MAX_ENTRIES],
    len: usize,
}

impl WindowPlan {
    pub fn iter(&self) -> impl Iterator<Item = &(MemRange, MapAttrs)> {
        self.entries[..self.len].iter()
    }
}

fn page_round(r: MemRange) -> MemRange {
    let base = align_down(r.base, PAGE_SIZE);
    MemRange { base, size: align_up(r.end(), PAGE_SIZE) - base }
}

fn free(r: MemRange, bank: MemRange, avoid: &[MemRange]) -> bool {
    r.size == 0
        || (bank.base <= r.base && r.end() <= bank.end() && !avoid.iter().any(|a| a.size != 0 && a.overlaps(&r)))
}

/// `r` page rounded, each end moved out to a 2 MiB boundary when the added part is inside `bank`
/// and overlaps nothing in `avoid`.
fn grow(r: MemRange, bank: MemRange, avoid: &[MemRange]) -> MemRange {
    let r = page_round(r);
    let lo = align_down(r.base, L2_BLOCK);
    let base = if free(MemRange { base: lo, size: r.base - lo }, bank, avoid) { lo } else { r.base };
    let hi = align_up(r.end(), L2_BLOCK);
    let end = if free(MemRange { base: r.end(), size: hi - r.end() }, bank, avoid) { hi } else { r.end() };
    MemRange { base, size: end - base }
}

/// Plan the window's map. `text`: the running image's code (mapped read-only, executable, exactly
/// its pages); `data`: what the work reads or writes (read/write, execute-never), each in one of
/// the `ram` banks; `devices`: what it may touch as Device; `avoid`: memory never to map beyond
/// what `data` itself covers (the device tree's reservations, hypfw's region).
pub fn plan(
    text: MemRange,
    data: &[MemRange],
    devices: &[MemRange],
    ram: &[MemRange],
    avoid: &[MemRange],
) -> Result<WindowPlan, WindowError> {
    let data_n = data.iter().filter(|d| d.size != 0).count();
    let dev_n = devices.iter().filter(|d| d.size != 0).count();
    if data_n > MAX_DATA || dev_n > MAX_DEVICES || avoid.len() > MAX_AVOID {
        return Err(WindowError::TooMany);
    }
    let limit = 1u64 << 32;
    let all = core::iter::once(&text).chain(data).chain(devices);
    if let Some(r) = all.filter(|r| r.size != 0).find(|r| r.end() > limit) {
        return Err(WindowError::Above4G(*r));
    }
    let text = page_round(text);
    // Growth never covers the code (mapped exactly, executable) nor a device.
    let mut avoid_all = [MemRange::default(); MAX_AVOID + 1 + MAX_DEVICES];
    let navoid = avoid.len();
    avoid_all[..navoid].copy_from_slice(avoid);
    avoid_all[navoid] = text;
    for (i, d) in devices.iter().enumerate() {
        avoid_all[navoid + 1 + i] = page_round(*d);
    }
    let avoid_all = &avoid_all[..navoid + 1 + devices.len()];

    // Data ranges, grown, sorted and merged where they overlap or touch.
    let mut d = [MemRange::default(); MAX_DATA];
    let mut n = 0;
    for r in data.iter().filter(|r| r.size != 0) {
        let Some(&bank) = ram.iter().find(|b| b.base <= r.base && r.end() <= b.end()) else {
            return Err(WindowError::NotInRam(*r));
        };
        let g = grow(*r, bank, avoid_all);
        if let Some(c) = avoid_all[navoid..].iter().find(|c| c.overlaps(&g)) {
            return Err(WindowError::Overlap(*r, *c));
        }
        d[n] = g;
        n += 1;
    }
    let d = &mut d[..n];
    // Insertion sort: a handful of ranges, and no generic sort in the boot image.
    for i in 1..d.len() {
        let mut j = i;
        while j > 0 && d[j - 1].base > d[j].base {
            d.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut merged = [MemRange::default(); MAX_DATA];
    let mut m = 0;
    for r in d.iter() {
        if m > 0 && r.base <= merged[m - 1].end() {
            let last = &mut merged[m - 1];
            last.size = last.size.max(r.end() - last.base);
        } else {
            merged[m] = *r;
            m += 1;
        }
    }

    let mut plan = WindowPlan { entries: [(MemRange::default(), MapAttrs::DEVICE); MAX_ENTRIES], len: 0 };
    let mut push = |r: MemRange, a: MapAttrs| {
        plan.entries[plan.len] = (r, a);
        plan.len += 1;
    };
    if text.size != 0 {
        push(text, MapAttrs::TEXT);
    }
    for r in &merged[..m] {
        push(*r, MapAttrs::DATA);
    }
    let mut devs = [MemRange::default(); MAX_DEVICES];
    for (k, r) in devices.iter().filter(|r| r.size != 0).enumerate() {
        let r = page_round(*r);
        if let Some(o) = devs[..k].iter().find(|o| o.overlaps(&r)) {
            return Err(WindowError::Overlap(r, *o));
        }
        if r.overlaps(&text) {
            return Err(WindowError::Overlap(r, text));
        }
        devs[k] = r;
        push(r, MapAttrs::DEVICE);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::cache::{Op, Recorder};
    use crate::mm::coherency;
    use std::collections::BTreeMap;
    use std::vec;
    use std::vec::Vec;

    impl WindowControl for Recorder {
        fn load_tables(&mut self, root: PhysAddr) {
            self.ops.push(Op::LoadTables(root.0));
        }
        fn mmu_caches_on(&mut self) {
            self.ops.push(Op::MmuCachesOn);
        }
        fn mmu_caches_off_clean_all(&mut self) {
            self.ops.push(Op::MmuCachesOffCleanAll);
        }
    }

    #[test]
    fn the_window_is_enabled_worked_in_cleaned_disabled_and_invalidated_in_that_order() {
        let mut r = Recorder::default();
        let out = run(&mut r, PhysAddr(0x4800_0000), || 7);
        assert_eq!(out, 7);
        assert_eq!(
            r.ops,
            vec![
                Op::Dsb,
                Op::LoadTables(0x4800_0000),
                Op::Isb,
                Op::TlbiAllHyp,
                Op::ICacheInval,
                Op::Dsb,
                Op::Isb,
                Op::MmuCachesOn,
                Op::Isb,
                // the work
                Op::Dsb,
                Op::MmuCachesOffCleanAll,
                Op::ICacheInval,
                Op::TlbiAllHyp,
                Op::Dsb,
                Op::Isb,
            ]
        );
    }

    /// A one-CPU write-back cache: what it holds per line, dirty or not, and memory behind it.
    #[derive(Default)]
    struct Model {
        on: bool,
        lines: BTreeMap<u64, (u32, bool)>,
        mem: BTreeMap<u64, u32>,
        /// Dirty lines discarded by an invalidation: data lost.
        lost: Vec<u64>,
    }
    impl Model {
        fn write(&mut self, a: u64, v: u32) {
            if self.on {
                self.lines.insert(a, (v, true));
            } else {
                self.mem.insert(a, v);
            }
        }
        /// With the caches off, memory is read (a stale line is not looked up); with them on,
        /// a miss allocates a clean line.
        fn read(&mut self, a: u64) -> u32 {
            let m = self.mem.get(&a).copied().unwrap_or(0);
            if !self.on {
                return m;
            }
            self.lines.entry(a).or_insert((m, false)).0
        }
    }
    impl CacheMaintenance for Model {
        fn clean_line_to_poc(&mut self, a: u64) {
            if let Some((v, dirty)) = self.lines.get_mut(&a)
                && *dirty
            {
                self.mem.insert(a, *v);
                *dirty = false;
            }
        }
        fn invalidate_line_to_poc(&mut self, a: u64) {
            if let Some((_, true)) = self.lines.remove(&a) {
                self.lost.push(a);
            }
        }
        fn dmb(&mut self) {}
        fn dsb(&mut self) {}
        fn isb(&mut self) {}
        fn invalidate_icache(&mut self) {}
        fn tlbi_all_hyp(&mut self) {}
    }
    impl WindowControl for Model {
        fn load_tables(&mut self, _: PhysAddr) {}
        fn mmu_caches_on(&mut self) {
            self.on = true;
        }
        fn mmu_caches_off_clean_all(&mut self) {
            self.on = false;
            for (a, (v, dirty)) in core::mem::take(&mut self.lines) {
                if dirty {
                    self.mem.insert(a, v);
                }
            }
        }
    }

    /// The copy made inside the window is in memory after it, and no line is left to go stale
    /// under the MMU-off writes that follow.
    #[test]
    fn what_the_window_wrote_is_in_memory_and_no_line_survives() {
        let mut m = Model::default();
        for a in 0..16u64 {
            m.write(0x1000 + a * 64, a as u32 + 1); // the pack, loaded with the MMU off
        }
        open(&mut m, PhysAddr(0x8000));
        for a in 0..16u64 {
            let v = m.read(0x1000 + a * 64);
            m.write(0x9000 + a * 64, v);
        }
        close(&mut m);
        assert!(m.lost.is_empty());
        assert!(m.lines.is_empty(), "no line survives the close");
        for a in 0..16u64 {
            assert_eq!(m.mem.get(&(0x9000 + a * 64)), Some(&(a as u32 + 1)));
        }
        // An MMU-off write afterwards, then a cacheable reader: it sees the new value.
        m.write(0x1000, 99);
        m.on = true;
        assert_eq!(m.read(0x1000), 99);
    }

    /// The hazard the window rules out: the MMU-off helpers invalidate by address, which inside
    /// the window throws the copy away.
    #[test]
    fn invalidating_by_address_inside_the_window_loses_the_copy() {
        let mut m = Model::default();
        open(&mut m, PhysAddr(0x8000));
        m.write(0x9000, 5);
        coherency::written_uncached(&mut m, 0x9000, 64, 64);
        close(&mut m);
        assert_eq!(m.lost, vec![0x9000]);
        assert_eq!(m.mem.get(&0x9000), None, "memory never got the write");
    }

    const MB: u64 = 1 << 20;
    const BANK: MemRange = MemRange { base: 0x4000_0000, size: 1024 * MB };
    const UART: MemRange = MemRange { base: 0x0900_0000, size: 0x1000 };

    fn plan_qemu(avoid: &[MemRange]) -> Vec<(MemRange, MapAttrs)> {
        // The image loaded at 0x4001_0000: code to 0x4002_8000, then data, stack and a 7 MB pack;
        // the kernel copied to 0x4100_8000, the initrd high.
        let text = MemRange { base: 0x4001_0000, size: 0x1_8000 };
        let loaded_rest = MemRange { base: 0x4002_8000, size: 0x8000 + 7 * MB };
        let kernel = MemRange { base: 0x4100_8000, size: 5 * MB + 123 };
        let initrd = MemRange { base: 0x4800_0000, size: 2 * MB - 0x800 };
        plan(text, &[loaded_rest, kernel, initrd], &[UART], &[BANK], avoid).unwrap().iter().copied().collect()
    }

    #[test]
    fn the_map_is_code_exact_data_grown_to_blocks_and_the_console_as_device() {
        let p = plan_qemu(&[]);
        let r = |base, end| MemRange { base, size: end - base };
        assert_eq!(
            p,
            vec![
                (r(0x4001_0000, 0x4002_8000), MapAttrs::TEXT),
                // The loaded file up from its code to the next 2 MiB boundary; the kernel's copy
                // grown to its 2 MiB blocks.
                (r(0x4002_8000, 0x4080_0000), MapAttrs::DATA),
                (r(0x4100_0000, 0x4160_0000), MapAttrs::DATA),
                (r(0x4800_0000, 0x4820_0000), MapAttrs::DATA),
                (UART, MapAttrs::DEVICE),
            ]
        );
    }

    #[test]
    fn growth_stops_at_reservations_and_bank_ends() {
        let reserved = MemRange { base: 0x4100_0000, size: 0x1000 };
        let p = plan_qemu(&[reserved]);
        assert!(p.iter().all(|(r, _)| !r.overlaps(&reserved)), "{p:x?}");
        // The kernel's range still starts on its own page.
        assert!(p.iter().any(|(r, a)| *a == MapAttrs::DATA && r.base <= 0x4100_8000 && r.base >= 0x4100_1000));
        // A bank ending mid-block: nothing past it.
        let small = MemRange { base: 0x4000_0000, size: 0x30_0000 };
        let d = MemRange { base: 0x4020_0000, size: 0x1000 };
        let p = plan(MemRange::default(), &[d], &[], &[small], &[]).unwrap();
        assert_eq!(p.iter().next().unwrap().0, MemRange { base: 0x4020_0000, size: 0x1000 });
    }

    /// Every range to avoid counts, however many (an STM32MP157 tree has 7 reservations; only
    /// the first few were passed on before): the last of 20 stops the growth as the first does.
    #[test]
    fn growth_stops_at_every_reservation() {
        let mut avoid: Vec<MemRange> = (0..19).map(|i| MemRange { base: 0x6000_0000 + i * MB, size: 0x1000 }).collect();
        let last = MemRange { base: 0x4100_0000, size: 0x1000 };
        avoid.push(last);
        let p = plan_qemu(&avoid);
        assert!(p.iter().all(|(r, _)| !r.overlaps(&last)), "{p:x?}");
        let too_many = vec![last; MAX_AVOID + 1];
        let text = MemRange { base: 0x4001_0000, size: 0x1_8000 };
        assert_eq!(plan(text, &[], &[], &[BANK], &too_many).unwrap_err(), WindowError::TooMany);
    }

    #[test]
    fn nothing_outside_ram_or_4g_or_shared_with_code_is_accepted() {
        let text = MemRange { base: 0x4001_0000, size: 0x1_8000 };
        let out = MemRange { base: 0x1000_0000, size: 0x1000 };
        assert_eq!(plan(text, &[out], &[], &[BANK], &[]).unwrap_err(), WindowError::NotInRam(out));
        let high = MemRange { base: 0xFFFF_F000, size: 0x2000 };
        assert_eq!(plan(text, &[high], &[], &[BANK], &[]).unwrap_err(), WindowError::Above4G(high));
        let on_code = MemRange { base: 0x4002_0000, size: 0x2_0000 };
        assert!(matches!(plan(text, &[on_code], &[], &[BANK], &[]), Err(WindowError::Overlap(..))));
        // Growth never reaches the code: data just below it stops at its page.
        let below = MemRange { base: 0x4000_0000, size: 0x100 };
        let p = plan(text, &[below], &[], &[BANK], &[]).unwrap();
        assert_eq!(p.iter().nth(1).unwrap().0, MemRange { base: 0x4000_0000, size: 0x1000 });
    }

    /// hypfw's resident copy made in the window: the copy's pages are mapped, and growth reaches
    /// neither the rest of hypfw's region (the window's own table pages, the stacks) nor past it.
    #[test]
    fn a_copy_into_the_avoided_region_maps_only_the_copy() {
        let region = MemRange { base: 0x7ffd_8000, size: 0x2_8000 };
        let copy = MemRange { base: region.base, size: 0x1_6000 };
        let text = MemRange { base: 0x4001_0000, size: 0x1_8000 };
        let rest = MemRange { base: 0x4002_8000, size: 0x9000 };
        let p = plan(text, &[rest, copy], &[UART], &[BANK], &[region]).unwrap();
        let data: Vec<MemRange> = p.iter().filter(|(_, a)| *a == MapAttrs::DATA).map(|(r, _)| *r).collect();
        // Grown down to its 2 MiB boundary (free RAM), not up into the region's other pages.
        assert!(data.contains(&MemRange { base: 0x7fe0_0000, size: copy.end() - 0x7fe0_0000 }), "{data:x?}");
        let after = MemRange { base: copy.end(), size: region.end() - copy.end() };
        assert!(data.iter().all(|r| !r.overlaps(&after)), "{data:x?}");
    }

    /// Only RAM is ever Normal: every Normal range of the plan lies in a bank.
    #[test]
    fn normal_memory_only_in_ram() {
        let p = plan_qemu(&[]);
        for (r, a) in &p {
            if a.mem == crate::mm::pgtable::MemType::Normal {
                assert!(BANK.base <= r.base && r.end() <= BANK.end(), "{r:x?}");
            }
        }
    }
}
