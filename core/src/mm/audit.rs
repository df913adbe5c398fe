//! The runtime table, audited after it is built: the properties hypfw's isolation rests on are
//! checked on the table the MMU will walk, not only assumed from the plan it was built from. A
//! builder bug (or a plan that grew a mapping it should not have) stops the boot with the reason,
//! before any CPU runs with that table.
//!
//! Checked: every mapping is writable or executable, never both (W^X); every page of every stack
//! slot's guard is unmapped; the init page is not mapped at its identity address (the runtime table has no
//! identity map); no mapping reaches RAM outside hypfw's own region (the payload's memory).

use crate::mm::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use crate::mm::layout::{GUARD_SIZE, MAX_CPUS, MemRange, ReservedLayout};
use crate::mm::pgtable::{Descriptor, ENTRIES, L1_ENTRIES, L1_SHIFT, L2_SHIFT, L3_SHIFT, TableMemory, translate};

/// What an audit found wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditError {
    /// A leaf whose attributes hypfw never writes.
    UnknownAttributes {
        va: u64,
    },
    WritableAndExecutable {
        va: u64,
    },
    GuardPageMapped {
        cpu: usize,
        va: u32,
    },
    IdentityMapped {
        va: u64,
    },
    /// A mapping of RAM outside hypfw's region: the payload's memory.
    PayloadRamMapped {
        va: u64,
        pa: u64,
    },
}

impl core::fmt::Display for AuditError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            AuditError::UnknownAttributes { va } => write!(f, "VA {va:#x} has attributes hypfw never writes"),
            AuditError::WritableAndExecutable { va } => write!(f, "VA {va:#x} is writable and executable (W^X broken)"),
            AuditError::GuardPageMapped { cpu, va } => write!(f, "cpu{cpu}'s stack guard page at VA {va:#x} is mapped"),
            AuditError::IdentityMapped { va } => {
                write!(f, "the init page is mapped at its identity address {va:#x} (the runtime table must not be)")
            }
            AuditError::PayloadRamMapped { va, pa } => {
                write!(f, "VA {va:#x} maps RAM at PA {pa:#x}, outside hypfw's region: the payload's memory")
            }
        }
    }
}

/// One leaf of a HYP stage-1 tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub va: u64,
    pub size: u64,
    pub desc: Descriptor,
}

/// Visit every valid leaf of the HYP stage-1 tree at `root` (T0SZ = 0: 4 level-1 entries).
pub fn for_each_leaf<M: TableMemory>(mem: &M, root: PhysAddr, mut f: impl FnMut(Leaf)) {
    for i1 in 0..L1_ENTRIES {
        let d1 = Descriptor(mem.read_desc(root, i1));
        let va1 = (i1 as u64) << L1_SHIFT;
        if !d1.is_valid() {
            continue;
        }
        if !d1.has_table_bit() {
            f(Leaf { va: va1, size: 1 << L1_SHIFT, desc: d1 });
            continue;
        }
        let t2 = d1.output();
        let mut i2 = next_entry(mem, t2, 0, VALID);
        while i2 < ENTRIES {
            let d2 = Descriptor(mem.read_desc(t2, i2));
            let va2 = va1 | (i2 as u64) << L2_SHIFT;
            if !d2.has_table_bit() {
                f(Leaf { va: va2, size: 1 << L2_SHIFT, desc: d2 });
            } else {
                let t3 = d2.output();
                let mut i3 = next_entry(mem, t3, 0, TABLE_OR_PAGE);
                while i3 < ENTRIES {
                    let d3 = Descriptor(mem.read_desc(t3, i3));
                    f(Leaf { va: va2 | (i3 as u64) << L3_SHIFT, size: PAGE_SIZE, desc: d3 });
                    i3 = next_entry(mem, t3, i3 + 1, TABLE_OR_PAGE);
                }
            }
            i2 = next_entry(mem, t2, i2 + 1, VALID);
        }
    }
}

/// Descriptor bits that make it valid ([`Descriptor::is_valid`]), and a table or page
/// ([`Descriptor::has_table_bit`]).
const VALID: u64 = 0b01;
const TABLE_OR_PAGE: u64 = 0b11;

/// The index of the first entry from `from` on of the table at `table` whose descriptor has all
/// of `bits` set, or [`ENTRIES`]. Kept out of line: most of a table is empty, and a scan of its own keeps
/// each skipped entry to a load and a test (inside the walk, whose state is spilled around the
/// leaf callback, each empty entry cost three times that).
#[inline(never)]
fn next_entry<M: TableMemory>(mem: &M, table: PhysAddr, from: usize, bits: u64) -> usize {
    debug_assert!(bits & VALID != 0, "every kept descriptor is valid");
    let mut i = from;
    let d = |i| mem.read_desc(table, i);
    // Four entries at a time while none of them is valid (so none has `bits`).
    while i + 4 <= ENTRIES && (d(i) | d(i + 1) | d(i + 2) | d(i + 3)) & VALID == 0 {
        i += 4;
    }
    while i < ENTRIES && d(i) & bits != bits {
        i += 1;
    }
    i
}

/// Audit the runtime table at `root` of hypfw's `region` (base of the reserved region) laid out
/// as `l`, with the init page at `init_page` and the platform's `ram`. Returns how many leaves it
/// checked.
pub fn runtime_table<M: TableMemory>(
    mem: &M,
    root: PhysAddr,
    l: &ReservedLayout,
    region: PhysAddr,
    init_page: PhysAddr,
    ram: &[MemRange],
) -> Result<usize, AuditError> {
    let hypfw = MemRange { base: region.0, size: l.size() };
    let mut first_error = None;
    let mut leaves = 0;
    for_each_leaf(mem, root, |leaf| {
        leaves += 1;
        if first_error.is_some() {
            return;
        }
        let Some(a) = leaf.desc.attrs() else {
            first_error = Some(AuditError::UnknownAttributes { va: leaf.va });
            return;
        };
        if a.writable && a.executable {
            first_error = Some(AuditError::WritableAndExecutable { va: leaf.va });
            return;
        }
        let pa = MemRange { base: leaf.desc.output().0, size: leaf.size };
        let in_hypfw = pa.base >= hypfw.base && pa.end() <= hypfw.end();
        if !in_hypfw && ram.iter().any(|r| r.overlaps(&pa)) {
            first_error = Some(AuditError::PayloadRamMapped { va: leaf.va, pa: pa.base });
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    for cpu in 0..MAX_CPUS {
        for off in (0..GUARD_SIZE as u32).step_by(PAGE_SIZE as usize) {
            let g = VirtAddr(l.guard_page(cpu).0 + off);
            if translate(mem, root, g).is_some() {
                return Err(AuditError::GuardPageMapped { cpu, va: g.0 });
            }
        }
    }
    if init_page.0 < 1 << 32 && translate(mem, root, VirtAddr(init_page.0 as u32)).is_some() {
        return Err(AuditError::IdentityMapped { va: init_page.0 });
    }
    Ok(leaves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::cache::Recorder;
    use crate::mm::layout::{Device, ImageLayout, runtime_plan};
    use crate::mm::pgtable::testmem::{Pool, SimMem};
    use crate::mm::pgtable::{MapAttrs, TableBuilder};

    const REGION: PhysAddr = PhysAddr(0x7FE0_0000);
    const RAM: [MemRange; 1] = [MemRange { base: 0x4000_0000, size: 1 << 30 }];

    fn layout() -> ReservedLayout {
        ReservedLayout::new(
            ImageLayout {
                resident_start: 0,
                text_end: 0x10000,
                rodata_end: 0x18000,
                resident_end: 0x20000,
                image_end: 0x28000,
                init_page: 0x1000,
            },
            MAX_CPUS,
            16,
        )
        .unwrap()
    }

    /// The runtime table as the boot CPU builds it, plus `extra` mappings.
    fn build(extra: &[(u32, u64, MapAttrs)]) -> (SimMem, PhysAddr) {
        let l = layout();
        let mut mem = SimMem::default();
        let mut pool = Pool::new(0x1_0000_0000, 64);
        let mut rec = Recorder::default();
        let devices = [Device { name: "uart", pa: 0x0900_0000, size: 0x1000 }];
        let root = {
            let mut b = TableBuilder::new(&mut pool, &mut mem, &mut rec).unwrap();
            for r in runtime_plan(REGION, &l, &devices).iter() {
                b.map(r.va, r.pa, r.size, r.attrs).unwrap();
            }
            for &(va, pa, a) in extra {
                b.map(VirtAddr(va), PhysAddr(pa), PAGE_SIZE, a).unwrap();
            }
            b.publish()
        };
        (mem, root)
    }

    fn audit(extra: &[(u32, u64, MapAttrs)]) -> Result<usize, AuditError> {
        let (mem, root) = build(extra);
        runtime_table(&mem, root, &layout(), REGION, REGION.add(0x1000), &RAM)
    }

    #[test]
    fn the_table_hypfw_builds_passes() {
        let n = audit(&[]).unwrap();
        assert!(n > 40, "{n} leaves");
    }

    #[test]
    fn payload_ram_identity_and_guard_pages_are_caught() {
        assert_eq!(
            audit(&[(0xE000_0000, 0x4200_0000, MapAttrs::DATA)]),
            Err(AuditError::PayloadRamMapped { va: 0xE000_0000, pa: 0x4200_0000 })
        );
        assert_eq!(
            audit(&[(0x7FE0_1000, 0x7FE0_1000, MapAttrs::TEXT)]),
            Err(AuditError::IdentityMapped { va: 0x7FE0_1000 })
        );
        let guard = layout().guard_page(3);
        assert_eq!(
            audit(&[(guard.0, REGION.0 + 0x2_0000, MapAttrs::DATA)]),
            Err(AuditError::GuardPageMapped { cpu: 3, va: guard.0 })
        );
    }

    /// The builder refuses W^X itself; a descriptor written behind its back is still caught.
    #[test]
    fn writable_and_executable_is_caught() {
        let (mut mem, root) = build(&[]);
        let text = crate::mm::pgtable::translate(&mem, root, VirtAddr(0xC000_0000)).unwrap();
        assert_eq!(text.level, 3);
        // Find the L3 table holding VA 0xC000_0000 and clear AP[2] (read-only) of its entry.
        let l1 = Descriptor(mem.read_desc(root, 3));
        let l2 = Descriptor(mem.read_desc(l1.output(), 0));
        let d = mem.read_desc(l2.output(), 0);
        mem.write_desc(l2.output(), 0, d & !(1 << 7));
        assert_eq!(
            runtime_table(&mem, root, &layout(), REGION, REGION.add(0x1000), &RAM),
            Err(AuditError::WritableAndExecutable { va: 0xC000_0000 })
        );
    }

    proptest::proptest! {
        /// The walk visits exactly the pages and 2 MiB blocks mapped, wherever they sit in their
        /// tables (the scan skips empty entries four at a time), and no level-3 entry that is
        /// valid but not a page.
        #[test]
        fn every_leaf_is_visited_once(
            pages in proptest::collection::btree_set(0u32..4096, 0..48),
            blocks in proptest::collection::btree_set(0u32..16, 0..4),
            reserved in proptest::collection::vec(0usize..ENTRIES, 0..8),
        ) {
            let mut mem = SimMem::default();
            let mut pool = Pool::new(0x1_0000_0000, 64);
            let mut rec = Recorder::default();
            let root = {
                let mut b = TableBuilder::new(&mut pool, &mut mem, &mut rec).unwrap();
                for &p in &pages {
                    let (va, pa) = (0xC000_0000 + p * 0x1000, 0x1_2000_0000 + p as u64 * 0x1000);
                    b.map(VirtAddr(va), PhysAddr(pa), PAGE_SIZE, MapAttrs::DATA).unwrap();
                }
                for &k in &blocks {
                    let (va, pa) = (0xD000_0000 + k * 0x20_0000, 0x1_4000_0000 + k as u64 * 0x20_0000);
                    b.map(VirtAddr(va), PhysAddr(pa), 0x20_0000, MapAttrs::DATA).unwrap();
                }
                b.publish()
            };
            // Valid-but-reserved level-3 entries (0b01) in the first page's table: not leaves.
            if let Some(&p) = pages.iter().next() {
                let t = crate::mm::pgtable::translate(&mem, root, VirtAddr(0xC000_0000 + p * 0x1000)).unwrap();
                proptest::prop_assert_eq!(t.level, 3);
                let l1 = Descriptor(mem.read_desc(root, 3));
                let l2 = Descriptor(mem.read_desc(l1.output(), (p as usize * 0x1000) >> 21));
                for &i in &reserved {
                    if mem.read_desc(l2.output(), i) == 0 {
                        mem.write_desc(l2.output(), i, 0x1_7000_0000 | 0b01);
                    }
                }
            }
            let mut seen = Vec::new();
            for_each_leaf(&mem, root, |l| seen.push((l.va, l.size)));
            let mut want: Vec<(u64, u64)> = pages.iter().map(|&p| (0xC000_0000 + p as u64 * 0x1000, PAGE_SIZE)).collect();
            want.extend(blocks.iter().map(|&k| (0xD000_0000 + k as u64 * 0x20_0000, 0x20_0000)));
            proptest::prop_assert_eq!(seen, want);
        }
    }
}
