//! The runtime table, audited after it is built: the properties hypfw's isolation rests on are
//! checked on the table the MMU will walk, not only assumed from the plan it was built from. A
//! builder bug (or a plan that grew a mapping it should not have) stops the boot with the reason,
//! before any CPU runs with that table.
//!
//! Checked: every mapping is writable or executable, never both (W^X); no mapping reaches RAM
//! outside hypfw's own region (the payload's memory); every page of every stack slot's guard is
//! unmapped; the init page is not mapped at its identity address (the runtime table has no
//! identity map); and the table holds the plan and nothing else. The first two are checked on the
//! plan's mappings, and the table is held against the plan: every planned page and block is looked
//! up from the root as the MMU would and must be the descriptor the plan asks for, and the leaves
//! found that way must be every leaf the builder wrote ([`TableBuilder::leaves`]). Guards and the
//! identity address are looked up in the table itself. So only the plan's entries are read: a
//! walk of every entry of every table (~17k instructions per boot, nearly all of them on empty
//! entries) runs only to name what is wrong once something is. What this cannot see is a store
//! into table memory that bypasses the builder: the pool hands out zeroed pages, and nothing but
//! the builder writes them.
//!
//! [`TableBuilder::leaves`]: crate::mm::pgtable::TableBuilder::leaves

use crate::mm::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use crate::mm::layout::{GUARD_SIZE, MAX_CPUS, MemRange, Region, Regions, ReservedLayout};
use crate::mm::pgtable::{Descriptor, ENTRIES, L1_ENTRIES, L1_SHIFT, L2_SHIFT, L3_SHIFT, TableMemory, is_mapped};

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
    /// A page or block of a planned mapping is missing from the table, or maps elsewhere or
    /// otherwise than planned.
    NotAsPlanned {
        name: &'static str,
        va: u64,
    },
    /// A leaf that no planned mapping asks for.
    Unplanned {
        va: u64,
    },
    /// The builder's count of the leaves it wrote is not the plan's, and yet the table shows no
    /// leaf outside the plan.
    LeafCount {
        planned: usize,
        written: usize,
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
            AuditError::NotAsPlanned { name, va } => {
                write!(f, "VA {va:#x} ({name}) is not mapped as planned")
            }
            AuditError::Unplanned { va } => write!(f, "VA {va:#x} is mapped, and no planned mapping asks for it"),
            AuditError::LeafCount { planned, written } => {
                write!(f, "the builder wrote {written} leaves, the plan has {planned}")
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

/// What the runtime table is audited against.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// hypfw's region (the reserved region's base) and its layout.
    pub region: PhysAddr,
    pub layout: &'a ReservedLayout,
    /// The init page's physical address, which must not be mapped at that VA.
    pub init_page: PhysAddr,
    /// The platform's RAM.
    pub ram: &'a [MemRange],
    /// Leaf descriptors the builder wrote ([`TableBuilder::leaves`]).
    ///
    /// [`TableBuilder::leaves`]: crate::mm::pgtable::TableBuilder::leaves
    pub leaves_written: usize,
}

/// Audit the runtime table at `root` against its `plan` (the mappings it was built from,
/// `layout::runtime_plan`) and what `e` says. Returns how many leaves it checked.
pub fn runtime_table<M: TableMemory>(
    mem: &M,
    root: PhysAddr,
    plan: &dyn Regions,
    e: &Expected,
) -> Result<usize, AuditError> {
    let hypfw = MemRange { base: e.region.0, size: e.layout.size() };
    let mut leaves = 0;
    let mut found = Ok(());
    plan.each(&mut |r: &Region| {
        // The plan's own mappings: W^X, and no RAM but hypfw's.
        let va = r.va.0 as u64;
        let pa = MemRange { base: r.pa.0, size: r.size };
        let in_hypfw = pa.base >= hypfw.base && pa.end() <= hypfw.end();
        found = if r.attrs.writable && r.attrs.executable {
            Err(AuditError::WritableAndExecutable { va })
        } else if !in_hypfw && e.ram.iter().any(|b| b.overlaps(&pa)) {
            Err(AuditError::PayloadRamMapped { va, pa: pa.base })
        } else {
            // The table holds them as planned.
            planned_leaves(mem, root, r)
                .map(|n| leaves += n)
                .map_err(|va| AuditError::NotAsPlanned { name: r.name, va })
        };
        found.is_ok()
    });
    if let Err(err) = found {
        // A mapping not as planned: first name whatever breaks a property.
        let named = matches!(err, AuditError::NotAsPlanned { .. }).then(|| diagnose(mem, root, plan, e)).flatten();
        return Err(named.unwrap_or(err));
    }
    // ... and nothing else that the builder wrote.
    if leaves != e.leaves_written {
        return Err(diagnose(mem, root, plan, e)
            .unwrap_or(AuditError::LeafCount { planned: leaves, written: e.leaves_written }));
    }
    for cpu in 0..MAX_CPUS {
        for off in (0..GUARD_SIZE as u32).step_by(PAGE_SIZE as usize) {
            let g = VirtAddr(e.layout.guard_page(cpu).0 + off);
            if is_mapped(mem, root, g) {
                return Err(AuditError::GuardPageMapped { cpu, va: g.0 });
            }
        }
    }
    if let Some(va) = identity_va(e.init_page)
        && is_mapped(mem, root, VirtAddr(va))
    {
        return Err(AuditError::IdentityMapped { va: va as u64 });
    }
    Ok(leaves)
}

fn identity_va(init_page: PhysAddr) -> Option<u32> {
    u32::try_from(init_page.0).ok()
}

/// Look up every page and block of the planned mapping `r` from `root` as the MMU would: each must
/// be exactly the descriptor the plan asks for (its output address and attributes; a block where
/// the builder would have used one). Ok(leaves found) or Err(VA of the first that is not).
fn planned_leaves<M: TableMemory>(mem: &M, root: PhysAddr, r: &Region) -> Result<usize, u64> {
    let page = Descriptor::page(r.pa, r.attrs);
    // The encoding agrees with the decoding the rest of the audit (and the fault reports) use.
    if page.attrs() != Some(r.attrs) || page.output() != r.pa {
        return Err(r.va.0 as u64);
    }
    let (va, size) = (r.va.0 as u64, r.size);
    let mut leaves = 0;
    let mut off = 0;
    while off < size {
        let v = va + off;
        let mut table = root;
        let mut index = (v >> L1_SHIFT) as usize;
        let mut level_shift = L1_SHIFT;
        let d = loop {
            let d = Descriptor(mem.read_desc(table, index));
            if !d.is_valid() {
                return Err(v);
            }
            if !d.has_table_bit() || level_shift == L3_SHIFT {
                break d;
            }
            table = d.output();
            level_shift -= 9;
            index = ((v >> level_shift) as usize) & (ENTRIES - 1);
        };
        if level_shift != L3_SHIFT {
            // A block: aligned, within the mapping, and the plan's.
            let span = 1u64 << level_shift;
            if !v.is_multiple_of(span) || size - off < span || d != Descriptor::block(r.pa.add(off), r.attrs) {
                return Err(v);
            }
            leaves += 1;
            off += span;
            continue;
        }
        // Pages: the rest of this level-3 table that the mapping covers, in one pass.
        let n = (((size - off) / PAGE_SIZE) as usize).min(ENTRIES - index);
        let mut want = Descriptor::page(r.pa.add(off), r.attrs).0;
        for i in index..index + n {
            if mem.read_desc(table, i) != want {
                return Err(v + ((i - index) as u64) * PAGE_SIZE);
            }
            want += PAGE_SIZE;
        }
        leaves += n;
        off += n as u64 * PAGE_SIZE;
    }
    Ok(leaves)
}

/// Name what is wrong with the table, once it does not hold its plan: walk every leaf (every
/// entry of every table) and report the first that breaks a property, or that no planned mapping
/// asks for. None if every leaf is fine (a planned page is then missing or mapped otherwise).
fn diagnose<M: TableMemory>(mem: &M, root: PhysAddr, plan: &dyn Regions, e: &Expected) -> Option<AuditError> {
    let hypfw = MemRange { base: e.region.0, size: e.layout.size() };
    let guards = (0..MAX_CPUS).map(|cpu| (cpu, e.layout.guard_page(cpu).0 as u64));
    let mut found = None;
    for_each_leaf(mem, root, |leaf| {
        if found.is_some() {
            return;
        }
        let (va, end) = (leaf.va, leaf.va + leaf.size);
        let Some(a) = leaf.desc.attrs() else {
            found = Some(AuditError::UnknownAttributes { va });
            return;
        };
        let pa = MemRange { base: leaf.desc.output().0, size: leaf.size };
        let in_hypfw = pa.base >= hypfw.base && pa.end() <= hypfw.end();
        let guard = guards.clone().find(|&(_, g)| g < end && va < g + GUARD_SIZE);
        let identity = identity_va(e.init_page).filter(|&i| (va..end).contains(&(i as u64)));
        // The planned mapping this leaf lies in, and whether it maps what that one plans.
        let mut planned = None;
        plan.each(&mut |r: &Region| {
            if r.va.0 as u64 <= va && end <= r.va.0 as u64 + r.size {
                planned = Some(*r);
            }
            planned.is_none()
        });
        let as_planned = planned.is_some_and(|r| pa.base == r.pa.0 + (va - r.va.0 as u64) && a == r.attrs);
        found = if a.writable && a.executable {
            Some(AuditError::WritableAndExecutable { va })
        } else if !in_hypfw && e.ram.iter().any(|r| r.overlaps(&pa)) {
            Some(AuditError::PayloadRamMapped { va, pa: pa.base })
        } else if let Some((cpu, g)) = guard {
            Some(AuditError::GuardPageMapped { cpu, va: g.max(va) as u32 })
        } else if let Some(i) = identity {
            Some(AuditError::IdentityMapped { va: i as u64 })
        } else if as_planned {
            None
        } else if let Some(r) = planned {
            Some(AuditError::NotAsPlanned { name: r.name, va })
        } else {
            Some(AuditError::Unplanned { va })
        };
    });
    found
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

    const DEVICES: [Device; 1] = [Device { name: "uart", pa: 0x0900_0000, size: 0x1000 }];

    struct Built {
        mem: SimMem,
        root: PhysAddr,
        leaves: usize,
    }

    /// A table built by the builder from `plan`, plus `extra` pages.
    fn build_from(plan: impl IntoIterator<Item = Region>, extra: &[(u32, u64, MapAttrs)]) -> Built {
        let mut mem = SimMem::default();
        let mut pool = Pool::new(0x1_0000_0000, 64);
        let mut rec = Recorder::default();
        let (leaves, root) = {
            let mut b = TableBuilder::new(&mut pool, &mut mem, &mut rec).unwrap();
            for r in plan {
                b.map(r.va, r.pa, r.size, r.attrs).unwrap();
            }
            for &(va, pa, a) in extra {
                b.map(VirtAddr(va), PhysAddr(pa), PAGE_SIZE, a).unwrap();
            }
            (b.leaves(), b.publish())
        };
        Built { mem, root, leaves }
    }

    /// The runtime table as the boot CPU builds it, plus `extra` mappings.
    fn build(extra: &[(u32, u64, MapAttrs)]) -> Built {
        build_from(runtime_plan(REGION, &layout(), &DEVICES).to_vec(), extra)
    }

    /// Audit `t` against `plan`.
    fn audit_with(t: &Built, plan: &dyn Regions) -> Result<usize, AuditError> {
        let l = layout();
        let e =
            Expected { region: REGION, layout: &l, init_page: REGION.add(0x1000), ram: &RAM, leaves_written: t.leaves };
        runtime_table(&t.mem, t.root, plan, &e)
    }

    /// Audit `t` against the runtime plan.
    fn audit_built(t: &Built) -> Result<usize, AuditError> {
        audit_with(t, &runtime_plan(REGION, &layout(), &DEVICES))
    }

    fn audit(extra: &[(u32, u64, MapAttrs)]) -> Result<usize, AuditError> {
        audit_built(&build(extra))
    }

    /// The root of a HYP stage-1 table is zeroed only in its first 4 entries (`alloc_root_page`):
    /// with the rest of its page holding valid-looking descriptors, the table is built, walked and
    /// audited the same.
    #[test]
    fn the_root_page_beyond_its_four_entries_is_never_used() {
        const POOL: u64 = 0x1_0000_0000;
        let mut mem = SimMem::default();
        for i in L1_ENTRIES..ENTRIES {
            mem.write_desc(PhysAddr(POOL), i, Descriptor::page(REGION, MapAttrs::DATA).0);
        }
        let mut pool = Pool::new(POOL, 64);
        let mut rec = Recorder::default();
        let l = layout();
        let mut b = TableBuilder::new(&mut pool, &mut mem, &mut rec).unwrap();
        assert_eq!(b.root(), PhysAddr(POOL), "the root is the page with the junk");
        for r in runtime_plan(REGION, &l, &DEVICES).to_vec() {
            b.map(r.va, r.pa, r.size, r.attrs).unwrap();
        }
        let leaves = b.leaves();
        let root = b.publish();
        let mut seen = 0;
        for_each_leaf(&mem, root, |_| seen += 1);
        assert_eq!(seen, leaves);
        let t = Built { mem, root, leaves };
        assert_eq!(audit_built(&t), Ok(leaves));
    }

    /// The level-3 entry of `va` in `t`'s table, and its table and index.
    fn l3_entry(t: &Built, va: u32) -> (PhysAddr, usize, u64) {
        let l1 = Descriptor(t.mem.read_desc(t.root, (va >> 30) as usize));
        let l2 = Descriptor(t.mem.read_desc(l1.output(), ((va >> 21) & 511) as usize));
        let i = ((va >> 12) & 511) as usize;
        (l2.output(), i, t.mem.read_desc(l2.output(), i))
    }

    #[test]
    fn the_table_hypfw_builds_passes() {
        let t = build(&[]);
        let n = audit_built(&t).unwrap();
        assert!(n > 40, "{n} leaves");
        assert_eq!(n, t.leaves, "every leaf written is a planned one");
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
        let mut t = build(&[]);
        let text = crate::mm::pgtable::translate(&t.mem, t.root, VirtAddr(0xC000_0000)).unwrap();
        assert_eq!(text.level, 3);
        // Clear AP[2] (read-only) of the entry for VA 0xC000_0000.
        let (table, i, d) = l3_entry(&t, 0xC000_0000);
        t.mem.write_desc(table, i, d & !(1 << 7));
        assert_eq!(audit_built(&t), Err(AuditError::WritableAndExecutable { va: 0xC000_0000 }));
    }

    /// A leaf that breaks none of the properties but that the plan does not ask for: the builder
    /// wrote one leaf more than the plan has, and the walk names it.
    #[test]
    fn a_leaf_outside_the_plan_is_caught() {
        let t = build(&[(0xE000_0000, REGION.0 + 0x2_0000, MapAttrs::RODATA)]);
        assert_eq!(audit_built(&t), Err(AuditError::Unplanned { va: 0xE000_0000 }));
        // Only a count the table does not bear out: said as such.
        let mut t = build(&[]);
        t.leaves += 1;
        let planned = t.leaves - 1;
        assert_eq!(audit_built(&t), Err(AuditError::LeafCount { planned, written: planned + 1 }));
    }

    /// Planned pages missing, mapped to another page of hypfw's region, or with other attributes
    /// (none of which breaks a property by itself) are caught, with the planned mapping's name.
    #[test]
    fn a_planned_page_missing_or_changed_is_caught() {
        let l = layout();
        let plan = runtime_plan(REGION, &l, &DEVICES).to_vec();
        let without_rodata = build_from(plan.iter().copied().filter(|r| r.name != "rodata"), &[]);
        let rodata = plan.iter().find(|r| r.name == "rodata").unwrap();
        assert_eq!(
            audit_built(&without_rodata),
            Err(AuditError::NotAsPlanned { name: "rodata", va: rodata.va.0 as u64 })
        );
        let data = plan.iter().find(|r| r.name == "data+bss").unwrap();
        let va = data.va.0 + 0x1000;
        let mut moved = build(&[]);
        let (table, i, d) = l3_entry(&moved, va);
        moved.mem.write_desc(table, i, d + 0x1000);
        assert_eq!(audit_built(&moved), Err(AuditError::NotAsPlanned { name: "data+bss", va: va as u64 }));
        let mut read_only = build(&[]);
        read_only.mem.write_desc(table, i, d | 1 << 7);
        assert_eq!(audit_built(&read_only), Err(AuditError::NotAsPlanned { name: "data+bss", va: va as u64 }));
    }

    /// The plan's own mappings are held to the properties, whatever the table holds.
    #[test]
    fn a_plan_that_breaks_a_property_is_caught() {
        let l = layout();
        let payload_ram = Region {
            name: "payload RAM",
            va: VirtAddr(0xE000_0000),
            pa: PhysAddr(0x4200_0000),
            size: PAGE_SIZE,
            attrs: MapAttrs::RODATA,
        };
        let plan = runtime_plan(REGION, &l, &DEVICES).to_vec();
        let with: Vec<Region> = plan.iter().copied().chain([payload_ram]).collect();
        let t = build_from(with.clone(), &[]);
        assert_eq!(audit_with(&t, &with), Err(AuditError::PayloadRamMapped { va: 0xE000_0000, pa: 0x4200_0000 }));
        let wx = Region {
            name: "wx",
            pa: PhysAddr(REGION.0 + 0x2_0000),
            attrs: MapAttrs { mem: crate::mm::pgtable::MemType::Normal, writable: true, executable: true },
            ..payload_ram
        };
        let t = build(&[]);
        assert_eq!(
            audit_with(&t, &plan.iter().copied().chain([wx]).collect::<Vec<_>>()),
            Err(AuditError::WritableAndExecutable { va: 0xE000_0000 })
        );
    }

    /// A 2 MiB block is checked as one leaf; a block that maps elsewhere is caught.
    #[test]
    fn blocks_are_held_to_the_plan() {
        let l = layout();
        let device = Region {
            name: "big device",
            va: VirtAddr(0xE000_0000),
            pa: PhysAddr(0x1_0000_0000),
            size: (4 << 20) + 0x2000,
            attrs: MapAttrs::DEVICE,
        };
        let plan = runtime_plan(REGION, &l, &DEVICES).to_vec();
        let with: Vec<Region> = plan.iter().copied().chain([device]).collect();
        let mut t = build_from(with.clone(), &[]);
        let planned_pages: u64 = plan.iter().map(|r| r.size / PAGE_SIZE).sum();
        assert_eq!(audit_with(&t, &with), Ok(planned_pages as usize + 2 + 2), "two blocks and two pages");
        let l1 = Descriptor(t.mem.read_desc(t.root, 3));
        let i = ((0xE020_0000u32 >> 21) & 511) as usize;
        let d = t.mem.read_desc(l1.output(), i);
        t.mem.write_desc(l1.output(), i, d + (2 << 20));
        assert_eq!(audit_with(&t, &with), Err(AuditError::NotAsPlanned { name: "big device", va: 0xE020_0000 }));
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
