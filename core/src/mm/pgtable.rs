//! LPAE long-descriptor translation tables for HYP stage 1 (HTTBR, HTCR.T0SZ = 0).
//!
//! Hand-written because no well-kept crate fits: `aarch64-paging` keeps descriptors as `usize`
//! and so does not build for a 32-bit target whose descriptors are 64-bit.
//!
//! With T0SZ = 0 the walk starts at level 1 (ARM DDI 0406C B3.6.6): L1 has 4 entries of 1 GiB
//! (VA[31:30]), L2 512 entries of 2 MiB (VA[29:21]), L3 512 entries of 4 KiB (VA[20:12]). Output
//! addresses are 40 bits. Descriptor formats: ARM DDI 0406C B3.6.1 (table, block, page) and
//! B3.6.2 (attributes); the values are checked bit for bit in the tests below.

use crate::mm::addr::{PAGE_SIZE, PhysAddr, VirtAddr};
use crate::mm::cache::{CacheMaintenance, TRACK_LINE};
use bitflags::bitflags;

bitflags! {
    /// Bits of a long descriptor (B3.6.1, B3.6.2). AttrIndx and the output address are fields,
    /// handled by [`Descriptor`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct DescBits: u64 {
        const VALID = 1 << 0;
        /// Bit 1: table (L1/L2) or page (L3); clear = block (L1/L2).
        const TABLE_OR_PAGE = 1 << 1;
        const NS = 1 << 5;
        /// AP[1]: must be 1 for HYP stage-1 entries (there is no unprivileged HYP access).
        const AP1 = 1 << 6;
        /// AP[2]: read-only.
        const AP2_RO = 1 << 7;
        const SH_OUTER = 0b10 << 8;
        const SH_INNER = 0b11 << 8;
        /// Access flag: without it the first access faults.
        const AF = 1 << 10;
        const NG = 1 << 11;
        const CONTIGUOUS = 1 << 52;
        const PXN = 1 << 53;
        const XN = 1 << 54;
    }
}

/// HMAIR0/1 attribute indices used by hypfw. Bytes per index: ARM DDI 0406C B4.1.104.
pub const ATTR_IDX_DEVICE: u64 = 0; // 0x00: Strongly-ordered / Device-nGnRnE
pub const ATTR_IDX_NORMAL: u64 = 1; // 0xFF: Normal, inner/outer write-back write-allocate
pub const ATTR_IDX_NORMAL_NC: u64 = 2; // 0x44: Normal non-cacheable
/// HMAIR0 value for the indices above.
pub const HMAIR0: u32 = 0x0044_FF00;
pub const HMAIR1: u32 = 0;
/// HTCR: T0SZ = 0 (4 GiB), walks inner-shareable, inner/outer write-back write-allocate; bit 31
/// RES1 (B4.1.76).
pub const HTCR: u32 = 0x8000_3500;

const ATTR_IDX_SHIFT: u32 = 2;
const ATTR_IDX_MASK: u64 = 0b111 << ATTR_IDX_SHIFT;
/// Output address bits [39:12].
pub const OA_MASK: u64 = 0x0000_00FF_FFFF_F000;

pub const L1_SHIFT: u32 = 30;
pub const L2_SHIFT: u32 = 21;
pub const L3_SHIFT: u32 = 12;
pub const L2_BLOCK: u64 = 1 << L2_SHIFT;
pub const ENTRIES: usize = 512;
/// Entries that T0SZ = 0 gives the level-1 table.
pub const L1_ENTRIES: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Normal memory, write-back cacheable, inner shareable.
    Normal,
    /// Device-nGnRnE (Strongly-ordered), always execute-never.
    Device,
}

/// What a mapping allows. Read is always allowed (HYP has no read-never).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapAttrs {
    pub mem: MemType,
    pub writable: bool,
    pub executable: bool,
}

impl MapAttrs {
    pub const TEXT: Self = Self { mem: MemType::Normal, writable: false, executable: true };
    pub const RODATA: Self = Self { mem: MemType::Normal, writable: false, executable: false };
    pub const DATA: Self = Self { mem: MemType::Normal, writable: true, executable: false };
    pub const DEVICE: Self = Self { mem: MemType::Device, writable: true, executable: false };

    /// The attribute bits of a block or page descriptor with these permissions.
    pub fn leaf_bits(self) -> DescBits {
        let mut b = DescBits::VALID | DescBits::AP1 | DescBits::AF;
        match self.mem {
            MemType::Normal => b |= DescBits::SH_INNER,
            MemType::Device => b |= DescBits::SH_OUTER | DescBits::XN,
        }
        if !self.writable {
            b |= DescBits::AP2_RO;
        }
        if !self.executable {
            b |= DescBits::XN;
        }
        b
    }

    fn attr_index(self) -> u64 {
        match self.mem {
            MemType::Normal => ATTR_IDX_NORMAL,
            MemType::Device => ATTR_IDX_DEVICE,
        }
    }
}

/// Stage-2 permissions of a mapping (ARM DDI 0406C B3.6.2, stage 2 attributes): what the payload
/// at PL1/PL0 may do with an IPA range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct S2Attrs {
    pub mem: MemType,
    pub writable: bool,
    pub executable: bool,
}

impl S2Attrs {
    /// Payload RAM: normal write-back memory, read/write/execute.
    pub const RAM: Self = Self { mem: MemType::Normal, writable: true, executable: true };
    /// Device space: Device memory, read/write, never executable.
    pub const DEVICE: Self = Self { mem: MemType::Device, writable: true, executable: false };

    fn leaf_bits(self) -> u64 {
        let memattr: u64 = match self.mem {
            MemType::Normal => 0xF, // outer WB, inner WB
            MemType::Device => 0x1, // Device (nGnRE)
        };
        let sh: u64 = match self.mem {
            MemType::Normal => 0b11,
            MemType::Device => 0b10,
        };
        let mut d = 1 | (memattr << 2) | (1 << 6) | (sh << 8) | (1 << 10);
        if self.writable {
            d |= 1 << 7;
        }
        if !self.executable {
            d |= 1 << 54;
        }
        d
    }
}

/// VTCR for a 40-bit IPA space: T0SZ = -8 (S = 1), walk starts at level 1 (SL0 = 1), walks
/// inner-shareable write-back write-allocate, bit 31 RES1 (B4.1.159).
pub const VTCR_40BIT: u32 = 0x8000_3558;
pub const IPA_BITS: u32 = 40;
/// Level-1 entries for a 40-bit IPA: two concatenated, 8 KiB-aligned table pages.
pub const S2_L1_ENTRIES: usize = 1024;

/// VTTBR for a stage-2 root and VMID.
pub fn vttbr(root: PhysAddr, vmid: u8) -> u64 {
    (root.0 & 0x0000_00FF_FFFF_E000) | ((vmid as u64) << 48)
}

/// Which translation regime a table tree is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regime {
    /// HYP stage 1 (HTTBR), T0SZ = 0: 4 level-1 entries.
    HypStage1,
    /// Stage 2 (VTTBR), 40-bit IPA: 1024 level-1 entries in two concatenated pages.
    Stage2,
}

impl Regime {
    fn l1_entries(self) -> usize {
        match self {
            Regime::HypStage1 => L1_ENTRIES,
            Regime::Stage2 => S2_L1_ENTRIES,
        }
    }
    fn input_limit(self) -> u64 {
        match self {
            Regime::HypStage1 => 1 << 32,
            Regime::Stage2 => 1 << IPA_BITS,
        }
    }
}

/// A leaf descriptor's permissions in either regime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    Hyp(MapAttrs),
    S2(S2Attrs),
}

impl Leaf {
    fn writable_and_executable(self) -> bool {
        match self {
            Leaf::Hyp(a) => a.writable && a.executable,
            Leaf::S2(_) => false, // the payload's own RAM is its business
        }
    }
    fn bits(self) -> u64 {
        match self {
            Leaf::Hyp(a) => (a.attr_index() << ATTR_IDX_SHIFT) | a.leaf_bits().bits(),
            Leaf::S2(a) => a.leaf_bits(),
        }
    }
}

/// One 64-bit long descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor(pub u64);

impl Descriptor {
    pub const INVALID: Self = Descriptor(0);

    pub fn table(next: PhysAddr) -> Self {
        Descriptor((next.0 & OA_MASK) | (DescBits::VALID | DescBits::TABLE_OR_PAGE).bits())
    }
    /// A level-1 or level-2 block.
    pub fn block(pa: PhysAddr, attrs: MapAttrs) -> Self {
        Descriptor((pa.0 & OA_MASK) | (attrs.attr_index() << ATTR_IDX_SHIFT) | attrs.leaf_bits().bits())
    }
    /// A level-3 page.
    pub fn page(pa: PhysAddr, attrs: MapAttrs) -> Self {
        Descriptor(Self::block(pa, attrs).0 | DescBits::TABLE_OR_PAGE.bits())
    }
    fn leaf(pa: PhysAddr, leaf: Leaf, level: u8) -> Self {
        let page = if level == 3 { DescBits::TABLE_OR_PAGE.bits() } else { 0 };
        Descriptor((pa.0 & OA_MASK) | leaf.bits() | page)
    }
    /// The stage-2 permissions a leaf descriptor encodes.
    pub fn s2_attrs(self) -> Option<S2Attrs> {
        let mem = match (self.0 >> 2) & 0xF {
            0xF => MemType::Normal,
            0x1 => MemType::Device,
            _ => return None,
        };
        (self.0 & (1 << 6) != 0 && self.0 & (1 << 10) != 0).then_some(S2Attrs {
            mem,
            writable: self.0 & (1 << 7) != 0,
            executable: self.0 & (1 << 54) == 0,
        })
    }
    pub fn is_valid(self) -> bool {
        self.0 & 1 == 1
    }
    /// Table (at L1/L2) or page (at L3).
    pub fn has_table_bit(self) -> bool {
        self.0 & 0b11 == 0b11
    }
    pub fn output(self) -> PhysAddr {
        PhysAddr(self.0 & OA_MASK)
    }
    /// The permissions and memory type a leaf descriptor encodes, if hypfw could have written it.
    pub fn attrs(self) -> Option<MapAttrs> {
        let bits = DescBits::from_bits_truncate(self.0);
        let mem = match (self.0 & ATTR_IDX_MASK) >> ATTR_IDX_SHIFT {
            ATTR_IDX_NORMAL => MemType::Normal,
            ATTR_IDX_DEVICE => MemType::Device,
            _ => return None,
        };
        Some(MapAttrs { mem, writable: !bits.contains(DescBits::AP2_RO), executable: !bits.contains(DescBits::XN) })
    }
}

/// Hands out zeroed, page-aligned pages for translation tables.
pub trait FrameAllocator {
    fn alloc_zeroed_page(&mut self) -> Option<PhysAddr>;
    /// `pages` contiguous zeroed pages aligned to their total size (a stage-2 root).
    fn alloc_zeroed_pages(&mut self, pages: u64) -> Option<PhysAddr>;
    /// A zeroed table of `entries` descriptors (a HYP stage-1 root: T0SZ = 0 gives it 4, 32
    /// bytes, and HTTBR wants it aligned to that), which nothing reads or writes past its end:
    /// only those entries need to be zero, and such tables may share a page. By default a whole
    /// zeroed page.
    fn alloc_root_page(&mut self, entries: usize) -> Option<PhysAddr> {
        let _ = entries;
        self.alloc_zeroed_page()
    }
}

/// Reads and writes descriptors in table memory by physical address. The boot CPU does this with
/// the MMU off (PA is the pointer); the host tests with a simulated memory.
pub trait TableMemory {
    fn read_desc(&self, table: PhysAddr, index: usize) -> u64;
    fn write_desc(&mut self, table: PhysAddr, index: usize, value: u64);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The page pool is exhausted.
    OutOfTables,
    /// VA, PA or size is not 4 KiB aligned.
    Unaligned { va: VirtAddr, pa: PhysAddr, size: u64 },
    /// The range runs past the end of the 32-bit VA space or the 40-bit PA space.
    OutOfRange { va: VirtAddr, size: u64 },
    /// The VA is already mapped (hypfw never remaps silently).
    AlreadyMapped { va: VirtAddr },
    /// An IPA is already mapped in a stage-2 table.
    IpaAlreadyMapped { ipa: u64 },
    /// Writable and executable at once: refused (W^X).
    WriteAndExecute { va: VirtAddr },
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            MapError::OutOfTables => write!(f, "page-table pool exhausted"),
            MapError::Unaligned { va, pa, size } => {
                write!(f, "mapping {va} -> {pa} size {size:#x} is not 4 KiB aligned")
            }
            MapError::OutOfRange { va, size } => {
                write!(f, "mapping {va} size {size:#x} runs past the end of the address space")
            }
            MapError::AlreadyMapped { va } => write!(f, "{va} is already mapped"),
            MapError::IpaAlreadyMapped { ipa } => write!(f, "IPA {ipa:#x} is already mapped in stage 2"),
            MapError::WriteAndExecute { va } => {
                write!(f, "{va} would be writable and executable (W^X)")
            }
        }
    }
}

/// Result of a table walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    pub pa: PhysAddr,
    pub level: u8,
    pub desc: Descriptor,
}

/// Builds one table tree, with the MMU off (so every descriptor goes straight to memory). The
/// walker reads the tables cacheably once the MMU is on (HTCR/VTCR say write-back walks, and
/// phase 1 turns HSCTLR.M, C and I on together), so a stale line for a table's address would hide
/// a descriptor: every written line is invalidated to the Point of Coherency after a DMB, and
/// [`publish`] ends with a DSB (`mm::coherency::written_uncached`, line by line).
///
/// [`publish`]: TableBuilder::publish
pub struct TableBuilder<'a, A: FrameAllocator, M: TableMemory, C: CacheMaintenance> {
    regime: Regime,
    out_of_tables: bool,
    root: PhysAddr,
    alloc: &'a mut A,
    mem: &'a mut M,
    cache: &'a mut C,
    /// The last written line not yet invalidated. Writes come in runs, so handling a line when the
    /// run leaves it does each line once per run, after its last write in that run.
    dirty_line: Option<u64>,
    /// Leaf descriptors (blocks and pages) written: what the audit (`mm::audit`) holds the table
    /// against, having found every planned leaf in it.
    leaves: usize,
    /// The last level-3 table used, by its 2 MiB block of input addresses: mappings come in
    /// ascending order, and the next one often lies in the same block. (A table, once linked,
    /// stays where it is.)
    last_l3: Option<(u64, PhysAddr)>,
}

impl<'a, A: FrameAllocator, M: TableMemory, C: CacheMaintenance> TableBuilder<'a, A, M, C> {
    /// Start a new, empty HYP stage-1 table tree.
    pub fn new(alloc: &'a mut A, mem: &'a mut M, cache: &'a mut C) -> Result<Self, MapError> {
        Self::with_regime(Regime::HypStage1, alloc, mem, cache)
    }

    /// Start a new, empty table tree for `regime`.
    pub fn with_regime(regime: Regime, alloc: &'a mut A, mem: &'a mut M, cache: &'a mut C) -> Result<Self, MapError> {
        let root = match regime {
            Regime::HypStage1 => alloc.alloc_root_page(L1_ENTRIES),
            Regime::Stage2 => alloc.alloc_zeroed_pages(2),
        }
        .ok_or(MapError::OutOfTables)?;
        // A fresh table from the allocator is zero in memory; its first line is treated as written
        // (a stage-1 root, 32 bytes, lies within it), so no stale copy of it survives.
        let mut b =
            Self { regime, out_of_tables: false, root, alloc, mem, cache, dirty_line: None, leaves: 0, last_l3: None };
        b.note_write(root, 0);
        if regime == Regime::Stage2 {
            // Every line of the concatenated level-1 table can be read by the walker.
            for i in (0..S2_L1_ENTRIES).step_by((TRACK_LINE / 8) as usize) {
                let (t, idx) = split_l1(root, i);
                b.note_write(t, idx);
            }
        }
        Ok(b)
    }

    pub fn root(&self) -> PhysAddr {
        self.root
    }

    /// How many leaf descriptors (blocks and pages) this builder has written.
    pub fn leaves(&self) -> usize {
        self.leaves
    }

    fn note_write(&mut self, table: PhysAddr, index: usize) {
        let line = (table.0 + index as u64 * 8) & !(TRACK_LINE - 1);
        if self.dirty_line != Some(line) {
            if let Some(prev) = self.dirty_line {
                self.cache.dmb();
                self.cache.invalidate_line_to_poc(prev);
            }
            self.dirty_line = Some(line);
        }
    }

    fn write(&mut self, table: PhysAddr, index: usize, d: Descriptor) {
        self.mem.write_desc(table, index, d.0);
        self.note_write(table, index);
    }

    /// The next-level table under `table[index]`, allocated if the entry is empty. None if a
    /// block is mapped there, or if the pool is exhausted (then `out_of_tables` is set).
    fn next_table(&mut self, table: PhysAddr, index: usize) -> Option<PhysAddr> {
        let d = Descriptor(self.mem.read_desc(table, index));
        if d.is_valid() {
            return d.has_table_bit().then(|| d.output());
        }
        let Some(next) = self.alloc.alloc_zeroed_page() else {
            self.out_of_tables = true;
            return None;
        };
        self.write(table, index, Descriptor::table(next));
        Some(next)
    }

    /// Map `[va, va + size)` to `[pa, pa + size)` in a HYP stage-1 tree. Uses 2 MiB blocks where
    /// both addresses and the remaining size allow, 4 KiB pages elsewhere. Refuses to overwrite a
    /// valid entry, and refuses writable+executable (W^X).
    pub fn map(&mut self, va: VirtAddr, pa: PhysAddr, size: u64, attrs: MapAttrs) -> Result<(), MapError> {
        if !va.is_page_aligned() || !pa.is_page_aligned() || !size.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Unaligned { va, pa, size });
        }
        if va.0 as u64 + size > 1 << 32 || pa.0 + size > 1 << 40 {
            return Err(MapError::OutOfRange { va, size });
        }
        if Leaf::Hyp(attrs).writable_and_executable() {
            return Err(MapError::WriteAndExecute { va });
        }
        let r = self.map_input(va.0 as u64, pa, size, Leaf::Hyp(attrs), false);
        r.map_err(|at| {
            if self.out_of_tables { MapError::OutOfTables } else { MapError::AlreadyMapped { va: VirtAddr(at as u32) } }
        })
    }

    /// Map IPAs `[ipa, ipa + size)` to `[pa, pa + size)` in a stage-2 tree, with 1 GiB and 2 MiB
    /// blocks wherever alignment allows.
    pub fn map_ipa(&mut self, ipa: u64, pa: PhysAddr, size: u64, attrs: S2Attrs) -> Result<(), MapError> {
        if !ipa.is_multiple_of(PAGE_SIZE) || !pa.is_page_aligned() || !size.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Unaligned { va: VirtAddr(ipa as u32), pa, size });
        }
        if ipa + size > self.regime.input_limit() || pa.0 + size > 1 << 40 {
            return Err(MapError::OutOfRange { va: VirtAddr(ipa as u32), size });
        }
        let r = self.map_input(ipa, pa, size, Leaf::S2(attrs), true);
        r.map_err(|at| if self.out_of_tables { MapError::OutOfTables } else { MapError::IpaAlreadyMapped { ipa: at } })
    }

    fn existing_is_free(&self, table: PhysAddr, index: usize) -> bool {
        !Descriptor(self.mem.read_desc(table, index)).is_valid()
    }

    /// The walk-and-fill loop shared by both regimes. Err(address) if something is mapped there.
    fn map_input(&mut self, input: u64, pa: PhysAddr, size: u64, leaf: Leaf, l1_blocks: bool) -> Result<(), u64> {
        const L1_BLOCK: u64 = 1 << L1_SHIFT;
        let mut off = 0u64;
        while off < size {
            let v = input + off;
            let p = pa.0 + off;
            let left = size - off;
            let l2_block = v.is_multiple_of(L2_BLOCK) && p.is_multiple_of(L2_BLOCK) && left >= L2_BLOCK;
            if let Some((block, l3)) = self.last_l3
                && block == v >> L2_SHIFT
                && !l2_block
            {
                off += self.pages_in(l3, v, p, left, leaf)?;
                continue;
            }
            let (l1t, l1i) = split_l1(self.root, ((v >> L1_SHIFT) as usize) % self.regime.l1_entries());
            if l1_blocks && v.is_multiple_of(L1_BLOCK) && p.is_multiple_of(L1_BLOCK) && left >= L1_BLOCK {
                if !self.existing_is_free(l1t, l1i) {
                    return Err(v);
                }
                self.write_leaf(l1t, l1i, Descriptor::leaf(PhysAddr(p), leaf, 1));
                off += L1_BLOCK;
                continue;
            }
            let l2 = self.next_table(l1t, l1i).ok_or(v)?;
            let l2i = ((v >> L2_SHIFT) as usize) & (ENTRIES - 1);
            if l2_block {
                if !self.existing_is_free(l2, l2i) {
                    return Err(v);
                }
                self.write_leaf(l2, l2i, Descriptor::leaf(PhysAddr(p), leaf, 2));
                off += L2_BLOCK;
                continue;
            }
            let l3 = self.next_table(l2, l2i).ok_or(v)?;
            self.last_l3 = Some((v >> L2_SHIFT, l3));
            off += self.pages_in(l3, v, p, left, leaf)?;
        }
        Ok(())
    }

    /// Map pages from input address `v` to `p` in the level-3 table `l3`, up to its end (the next
    /// 2 MiB boundary, where a block may start) or `left` bytes, in one run. Ok(bytes mapped), or
    /// Err(address) of an entry already valid.
    fn pages_in(&mut self, l3: PhysAddr, v: u64, p: u64, left: u64, leaf: Leaf) -> Result<u64, u64> {
        let l3i = ((v >> L3_SHIFT) as usize) & (ENTRIES - 1);
        let n = ((left / PAGE_SIZE) as usize).min(ENTRIES - l3i);
        self.write_pages(l3, l3i, n, Descriptor::leaf(PhysAddr(p), leaf, 3)).map_err(|k| v + k as u64 * PAGE_SIZE)?;
        Ok(n as u64 * PAGE_SIZE)
    }

    fn write_leaf(&mut self, table: PhysAddr, index: usize, d: Descriptor) {
        self.write(table, index, d);
        self.leaves += 1;
    }

    /// Write `n` page descriptors from `table[first]` on, the first `d` and each next one page
    /// further. Err(k) if entry `first + k` is already valid (those before it are written).
    fn write_pages(&mut self, table: PhysAddr, first: usize, n: usize, d: Descriptor) -> Result<(), usize> {
        const PER_LINE: usize = (TRACK_LINE / 8) as usize;
        let (mut i, end, mut d) = (first, first + n, d.0);
        while i < end && !Descriptor(self.mem.read_desc(table, i)).is_valid() {
            self.mem.write_desc(table, i, d);
            d += PAGE_SIZE;
            i += 1;
        }
        self.leaves += i - first;
        // Each line of the run noted once, after the run's writes to it (as noting every write
        // would: a line is handled when the notes move past it).
        let mut at = first;
        while at < i {
            self.note_write(table, at);
            at = (at | (PER_LINE - 1)) + 1;
        }
        if i < end { Err(i - first) } else { Ok(()) }
    }

    /// Make every write visible to the table walker: the last written line invalidated, then DSB.
    /// Returns the root for HTTBR.
    pub fn publish(mut self) -> PhysAddr {
        if let Some(l) = self.dirty_line.take() {
            self.cache.dmb();
            self.cache.invalidate_line_to_poc(l);
        }
        self.cache.dsb();
        self.root
    }
}

/// The table page and index that hold level-1 entry `i` (a stage-2 root is two pages).
fn split_l1(root: PhysAddr, i: usize) -> (PhysAddr, usize) {
    (root.add((i / ENTRIES) as u64 * PAGE_SIZE), i % ENTRIES)
}

/// Walk the HYP stage-1 tree at `root` for `va` as the MMU would.
pub fn translate<M: TableMemory>(mem: &M, root: PhysAddr, va: VirtAddr) -> Option<Translation> {
    walk(mem, Regime::HypStage1, root, va.0 as u64)
}

/// Whether the MMU would find `va` mapped in the HYP stage-1 tree at `root`:
/// `translate(..).is_some()`, without working out where to (the audit asks it of every guard page).
pub fn is_mapped<M: TableMemory>(mem: &M, root: PhysAddr, va: VirtAddr) -> bool {
    let mut d = mem.read_desc(root, (va.0 >> L1_SHIFT) as usize);
    for shift in [L2_SHIFT, L3_SHIFT] {
        // Invalid: unmapped; a block (valid, table bit clear) at level 1 or 2: mapped.
        if d & 0b11 != 0b11 {
            return d & 1 != 0;
        }
        d = mem.read_desc(PhysAddr(d & OA_MASK), ((va.0 >> shift) as usize) & (ENTRIES - 1));
    }
    // Level 3: only a page (0b11) maps; the block encoding is invalid there.
    d & 0b11 == 0b11
}

/// Walk a tree of `regime` for an input address.
pub fn walk<M: TableMemory>(mem: &M, regime: Regime, root: PhysAddr, input: u64) -> Option<Translation> {
    if input >= regime.input_limit() {
        return None;
    }
    let (mut table, mut idx) = split_l1(root, (input >> L1_SHIFT) as usize);
    for (level, shift) in [(1u8, L1_SHIFT), (2, L2_SHIFT), (3, L3_SHIFT)] {
        if level > 1 {
            idx = ((input >> shift) as usize) & (ENTRIES - 1);
        }
        let d = Descriptor(mem.read_desc(table, idx));
        if !d.is_valid() {
            return None;
        }
        if level == 3 && !d.has_table_bit() {
            return None; // a block encoding at L3 is invalid
        }
        if level == 3 || !d.has_table_bit() {
            let mask = (1u64 << shift) - 1;
            return Some(Translation { pa: PhysAddr(d.output().0 & !mask | (input & mask)), level, desc: d });
        }
        table = d.output();
    }
    None
}

#[cfg(test)]
pub mod testmem {
    //! A simulated physical memory and page pool for host tests.
    use super::*;
    use crate::mm::frame::PagePool;
    use std::collections::HashMap;

    #[derive(Default)]
    pub struct SimMem {
        pub words: HashMap<(u64, usize), u64>,
    }
    impl TableMemory for SimMem {
        fn read_desc(&self, table: PhysAddr, index: usize) -> u64 {
            assert!(index < ENTRIES);
            *self.words.get(&(table.0, index)).unwrap_or(&0)
        }
        fn write_desc(&mut self, table: PhysAddr, index: usize, value: u64) {
            assert!(index < ENTRIES);
            self.words.insert((table.0, index), value);
        }
    }

    /// The allocator that ships ([`PagePool`]), recording what it handed out.
    pub struct Pool {
        pub pool: PagePool,
        pub handed_out: Vec<u64>,
    }
    impl Pool {
        pub fn new(base: u64, pages: u64) -> Self {
            Pool { pool: PagePool::new(base, pages), handed_out: Vec::new() }
        }
    }
    impl FrameAllocator for Pool {
        fn alloc_zeroed_page(&mut self) -> Option<PhysAddr> {
            self.alloc_zeroed_pages(1)
        }
        fn alloc_root_page(&mut self, entries: usize) -> Option<PhysAddr> {
            // As the firmware's pool: roots share a page.
            let before = self.pool.pages_used();
            let p = self.pool.take_small(entries as u64 * 8)?;
            if self.pool.pages_used() != before {
                self.handed_out.push(p.0);
            }
            Some(p)
        }
        fn alloc_zeroed_pages(&mut self, pages: u64) -> Option<PhysAddr> {
            // Simulated memory reads unwritten descriptors as zero: nothing to clear.
            let p = self.pool.take(pages)?;
            self.handed_out.push(p.0);
            Some(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testmem::*;
    use super::*;
    use crate::mm::cache::{Op, Recorder};

    // Exact encodings, checked against the field layout of ARM DDI 0406C B3.6.1/B3.6.2.
    #[test]
    fn text_page_descriptor_bits() {
        // page | AttrIndx 1 | AP[1]=1 AP[2]=1 (RO) | SH inner | AF; executable
        let d = Descriptor::page(PhysAddr(0x4_7E00_1000), MapAttrs::TEXT);
        assert_eq!(d.0, 0x0000_0004_7E00_1000 | 0b11 | (1 << 2) | (0b11 << 6) | (0b11 << 8) | (1 << 10));
        assert_eq!(d.0, 0x0000_0004_7E00_17C7);
    }

    #[test]
    fn data_and_rodata_page_bits() {
        assert_eq!(Descriptor::page(PhysAddr(0x4000_0000), MapAttrs::DATA).0, 0x0040_0000_4000_0747);
        assert_eq!(Descriptor::page(PhysAddr(0x4000_0000), MapAttrs::RODATA).0, 0x0040_0000_4000_07C7);
    }

    #[test]
    fn device_page_and_block_bits() {
        // AttrIndx 0, AP[1], SH outer, AF, XN
        assert_eq!(Descriptor::page(PhysAddr(0x0900_0000), MapAttrs::DEVICE).0, 0x0040_0000_0900_0643);
        assert_eq!(Descriptor::block(PhysAddr(0x0800_0000), MapAttrs::DEVICE).0, 0x0040_0000_0800_0641);
    }

    #[test]
    fn table_descriptor_bits() {
        assert_eq!(Descriptor::table(PhysAddr(0xBFE0_3000)).0, 0xBFE0_3003);
    }

    #[test]
    fn attrs_round_trip() {
        for a in [MapAttrs::TEXT, MapAttrs::RODATA, MapAttrs::DATA, MapAttrs::DEVICE] {
            assert_eq!(Descriptor::page(PhysAddr(0x1000), a).attrs(), Some(a));
        }
    }

    #[test]
    fn hmair_and_htcr_values() {
        assert_eq!((HMAIR0 >> (8 * ATTR_IDX_DEVICE)) & 0xff, 0x00);
        assert_eq!((HMAIR0 >> (8 * ATTR_IDX_NORMAL)) & 0xff, 0xFF);
        assert_eq!((HMAIR0 >> (8 * ATTR_IDX_NORMAL_NC)) & 0xff, 0x44);
        assert_eq!(HTCR & 0b111, 0, "T0SZ = 0");
        assert_eq!((HTCR >> 8) & 0b11, 0b01, "IRGN0 WB-WA");
        assert_eq!((HTCR >> 10) & 0b11, 0b01, "ORGN0 WB-WA");
        assert_eq!((HTCR >> 12) & 0b11, 0b11, "SH0 inner");
    }

    fn build(maps: &[(u32, u64, u64, MapAttrs)]) -> (SimMem, PhysAddr, Recorder, Result<(), MapError>) {
        let mut mem = SimMem::default();
        let mut pool = Pool::new(0x8000_0000, 64);
        let mut rec = Recorder::default();
        let mut b = TableBuilder::new(&mut pool, &mut mem, &mut rec).unwrap();
        let mut r = Ok(());
        for &(va, pa, size, a) in maps {
            r = b.map(VirtAddr(va), PhysAddr(pa), size, a);
            if r.is_err() {
                break;
            }
        }
        let root = b.publish();
        (mem, root, rec, r)
    }

    #[test]
    fn uses_blocks_where_aligned_and_pages_elsewhere() {
        let (mem, root, _, r) = build(&[(0xC000_0000, 0x4000_0000, 0x20_0000 + 0x2000, MapAttrs::DATA)]);
        r.unwrap();
        let t = translate(&mem, root, VirtAddr(0xC000_1234)).unwrap();
        assert_eq!((t.pa, t.level), (PhysAddr(0x4000_1234), 2));
        let t = translate(&mem, root, VirtAddr(0xC020_1000)).unwrap();
        assert_eq!((t.pa, t.level), (PhysAddr(0x4020_1000), 3));
        assert!(translate(&mem, root, VirtAddr(0xC020_2000)).is_none());
    }

    #[test]
    fn refuses_overlap_misalignment_and_wx() {
        let (_, _, _, r) = build(&[
            (0xC000_0000, 0x4000_0000, 0x1000, MapAttrs::DATA),
            (0xC000_0000, 0x5000_0000, 0x1000, MapAttrs::DATA),
        ]);
        assert_eq!(r, Err(MapError::AlreadyMapped { va: VirtAddr(0xC000_0000) }));
        let (_, _, _, r) = build(&[(0xC000_0800, 0x4000_0000, 0x1000, MapAttrs::DATA)]);
        assert!(matches!(r, Err(MapError::Unaligned { .. })));
        let wx = MapAttrs { mem: MemType::Normal, writable: true, executable: true };
        let (_, _, _, r) = build(&[(0xC000_0000, 0x4000_0000, 0x1000, wx)]);
        assert_eq!(r, Err(MapError::WriteAndExecute { va: VirtAddr(0xC000_0000) }));
        let (_, _, _, r) = build(&[(0xFFFF_F000, 0x4000_0000, 0x2000, MapAttrs::DATA)]);
        assert!(matches!(r, Err(MapError::OutOfRange { .. })));
    }

    proptest::proptest! {
        /// `is_mapped` agrees with `translate` everywhere: pages, blocks, the gaps between them,
        /// and level-3 entries that are valid but not pages.
        #[test]
        fn is_mapped_agrees_with_translate(
            pages in proptest::collection::btree_set(0u32..2048, 0..24),
            blocks in proptest::collection::btree_set(0u32..8, 0..3),
            junk in proptest::collection::vec(0usize..ENTRIES, 0..4),
            probes in proptest::collection::vec(0u32..0x1_0000, 0..64),
        ) {
            let mut mem = SimMem::default();
            let mut pool = Pool::new(0x8000_0000, 64);
            let mut rec = Recorder::default();
            let root = {
                let mut b = TableBuilder::new(&mut pool, &mut mem, &mut rec).unwrap();
                for &p in &pages {
                    b.map(VirtAddr(0xC000_0000 + p * 0x1000), PhysAddr(0x1_0000_0000 + p as u64 * 0x1000), PAGE_SIZE, MapAttrs::DATA).unwrap();
                }
                for &k in &blocks {
                    b.map(VirtAddr(0xD000_0000 + k * 0x20_0000), PhysAddr(0x1_4000_0000 + k as u64 * 0x20_0000), L2_BLOCK, MapAttrs::DATA).unwrap();
                }
                b.publish()
            };
            if let Some(&p) = pages.iter().next() {
                let l1 = Descriptor(mem.read_desc(root, 3));
                let l3 = Descriptor(mem.read_desc(l1.output(), (p as usize * 0x1000) >> 21)).output();
                for &i in &junk {
                    if mem.read_desc(l3, i) == 0 {
                        mem.write_desc(l3, i, 0x1_7000_0000 | 0b01);
                    }
                }
            }
            // Probes over the pages' and blocks' ranges and all four GiB.
            for &x in &probes {
                for va in [0xC000_0000 + (x % 0x800) * 0x1000, 0xD000_0000 + (x % 0x1000) * 0x1000, x << 16] {
                    let va = VirtAddr(va);
                    proptest::prop_assert_eq!(is_mapped(&mem, root, va), translate(&mem, root, va).is_some(), "{}", va);
                }
            }
        }
    }

    #[test]
    fn runs_out_of_tables_cleanly() {
        let mut mem = SimMem::default();
        let mut pool = Pool::new(0x8000_0000, 2);
        let mut rec = Recorder::default();
        let mut b = TableBuilder::new(&mut pool, &mut mem, &mut rec).unwrap();
        assert_eq!(b.map(VirtAddr(0x1000), PhysAddr(0x1000), 0x1000, MapAttrs::DATA), Err(MapError::OutOfTables));
    }

    /// Table memory and cache operations recorded in one sequence.
    #[derive(Default)]
    struct Logged {
        mem: SimMem,
        log: std::rc::Rc<std::cell::RefCell<Vec<Op>>>,
    }
    /// A descriptor write shows up in the log as a `Clean` of its line with this bit set, so writes
    /// and cache operations share one sequence.
    const WRITE_TAG: u64 = 1 << 63;
    impl TableMemory for Logged {
        fn read_desc(&self, t: PhysAddr, i: usize) -> u64 {
            self.mem.read_desc(t, i)
        }
        fn write_desc(&mut self, t: PhysAddr, i: usize, v: u64) {
            self.mem.write_desc(t, i, v);
            self.log.borrow_mut().push(Op::Clean(WRITE_TAG | ((t.0 + i as u64 * 8) & !(TRACK_LINE - 1))));
        }
    }
    struct LogCache(std::rc::Rc<std::cell::RefCell<Vec<Op>>>);
    impl CacheMaintenance for LogCache {
        fn clean_line_to_poc(&mut self, a: u64) {
            self.0.borrow_mut().push(Op::Clean(a));
        }
        fn invalidate_line_to_poc(&mut self, a: u64) {
            self.0.borrow_mut().push(Op::Inval(a));
        }
        fn dmb(&mut self) {
            self.0.borrow_mut().push(Op::Dmb);
        }
        fn dsb(&mut self) {
            self.0.borrow_mut().push(Op::Dsb);
        }
        fn isb(&mut self) {
            self.0.borrow_mut().push(Op::Isb);
        }
        fn invalidate_icache(&mut self) {
            self.0.borrow_mut().push(Op::ICacheInval);
        }
        fn tlbi_all_hyp(&mut self) {
            self.0.borrow_mut().push(Op::TlbiAllHyp);
        }
    }

    /// Each write to table memory is followed, before the final DSB, by a DMB and then an
    /// invalidation of its line (no write is left where a stale line could hide it), and nothing
    /// is written after the DSB.
    #[test]
    fn each_write_is_followed_by_an_invalidation_of_its_line_before_the_dsb() {
        let mut logged = Logged::default();
        let log = logged.log.clone();
        let mut cache = LogCache(log.clone());
        let mut pool = Pool::new(0x8000_0000, 16);
        let mut b = TableBuilder::new(&mut pool, &mut logged, &mut cache).unwrap();
        b.map(VirtAddr(0xC000_0000), PhysAddr(0x4000_0000), 0x23000, MapAttrs::DATA).unwrap();
        b.map(VirtAddr(0xF000_0000), PhysAddr(0x0900_0000), 0x1000, MapAttrs::DEVICE).unwrap();
        b.map(VirtAddr(0xFFFF_0000), PhysAddr(0x4010_0000), 0x1000, MapAttrs::TEXT).unwrap();
        b.map(VirtAddr(0xC040_0000), PhysAddr(0x4040_0000), 0x40_0000, MapAttrs::RODATA).unwrap();
        b.publish();
        let log = log.borrow();
        let dsb = log.iter().position(|o| *o == Op::Dsb).unwrap();
        assert_eq!(dsb, log.len() - 1, "the DSB is the last operation");
        let mut writes = 0;
        for (i, op) in log.iter().enumerate() {
            if let Op::Clean(a) = *op
                && a & WRITE_TAG != 0
            {
                writes += 1;
                let line = a & !WRITE_TAG;
                let inv = log[i + 1..dsb].iter().position(|o| *o == Op::Inval(line));
                assert!(inv.is_some(), "write to line {line:#x} (op {i}) not invalidated afterwards");
                let inv = i + 1 + inv.unwrap();
                assert!(log[i + 1..inv].contains(&Op::Dmb), "no DMB between the write (op {i}) and its invalidation");
            }
        }
        assert!(writes > 5);
    }

    /// Every line a descriptor was written to is invalidated after its last write, and the DSB
    /// comes after the last invalidation.
    #[test]
    fn every_written_line_is_invalidated_before_the_final_dsb() {
        let mut mem = SimMem::default();
        let mut pool = Pool::new(0x8000_0000, 16);
        let mut rec = Recorder::default();
        let mut writes: Vec<u64> = Vec::new();
        {
            let mut b = TableBuilder::new(&mut pool, &mut mem, &mut rec).unwrap();
            b.map(VirtAddr(0xC000_0000), PhysAddr(0x4000_0000), 0x5000, MapAttrs::DATA).unwrap();
            b.map(VirtAddr(0xFFFF_0000), PhysAddr(0x4010_0000), 0x1000, MapAttrs::TEXT).unwrap();
            b.map(VirtAddr(0x4010_0000), PhysAddr(0x4010_0000), 0x1000, MapAttrs::TEXT).unwrap();
            b.publish();
        }
        for (&(table, idx), _) in mem.words.iter() {
            writes.push((table + idx as u64 * 8) & !(TRACK_LINE - 1));
        }
        assert_eq!(*rec.ops.last().unwrap(), Op::Dsb);
        let dsb_at = rec.ops.len() - 1;
        for line in writes {
            assert!(rec.ops[..dsb_at].contains(&Op::Inval(line)), "line {line:#x} never invalidated");
        }
        assert_eq!(rec.ops.iter().filter(|o| **o == Op::Dsb).count(), 1, "one DSB per publication");
    }
}
