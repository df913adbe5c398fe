//! Where everything lives: the reserved physical region, the HYP VA layout, and the list of
//! mappings that make up the boot and runtime page tables (`docs/architecture.md` draws it).
//!
//! The reserved region holds exactly what the runtime needs and is withheld from the payload: the
//! resident image (without the boot stack and the relocation table, which only the boot phase
//! uses), the page-table pool sized to what the tables take, and one stack per CPU of the device
//! tree. Its size is computed at boot ([`plan_region`]), page aligned, and it is taken from the
//! top of the first RAM bank below the runtime VA window. The image and the pool are mapped
//! linearly (runtime VA = RUNTIME_VA + region offset); the stacks are packed in the region without
//! guard pages, and mapped into a window of STACK_SLOT-aligned slots whose unmapped lower part is
//! the guard (VA costs no memory).
//!
//! ```text
//! region offset  contents                          runtime mapping (VA = RUNTIME_VA + offset)
//! 0              image .text (init page inside)    RX
//!                image .rodata, .got               R, XN
//!                image .data, .bss                 RW, XN
//! pool_off       page-table pool (pool_pages)      RW, XN
//! stacks_off     ncpus x STACK_SIZE                each at its slot in the stack window:
//!                                                  [guard GUARD_SIZE, unmapped][stack RW, XN]
//! ```

use crate::mm::addr::{PAGE_SIZE, PhysAddr, VirtAddr, align_down, align_up};
use crate::mm::pgtable::MapAttrs;
use crate::mm::stage2::{self, Piece};

pub const RUNTIME_VA: u32 = 0xC000_0000;
/// The runtime's linear window: the region's image and pool, then the stack window, all within
/// this many bytes from RUNTIME_VA (`ReservedLayout::new` refuses a layout that reaches beyond).
pub const RUNTIME_WINDOW_SIZE: u64 = 4 << 20;
/// Device mappings (console, GIC) are placed from here upwards.
pub const DEVICE_VA: u32 = 0xF000_0000;
pub const DEVICE_VA_END: u32 = 0xFFF0_0000;
/// The ARM "vectors page" VA: the init page is mapped here in both tables.
pub const TRAMPOLINE_VA: u32 = 0xFFFF_0000;
/// The HYP VAs the runtime table uses or keeps: its linear window, and the device window up to the
/// end of the VA space (the trampoline page with it). The identity map of the init page must
/// stay out of them (`check_identity_collision`).
pub const RUNTIME_VAS: [MemRange; 2] = [
    MemRange { base: RUNTIME_VA as u64, size: RUNTIME_WINDOW_SIZE },
    MemRange { base: DEVICE_VA as u64, size: (1 << 32) - DEVICE_VA as u64 },
];
const _: () = assert!(DEVICE_VA as u64 >= RUNTIME_VA as u64 + RUNTIME_WINDOW_SIZE);

/// hypfw's memory budget at MAX_CPUS (issue 10): what `cargo xtask inspect` sets aside for it on a
/// board, and what `docs/performance.md` guards.
pub const RESERVED_BUDGET: u64 = 256 << 10;
/// A region larger than this is refused: only a broken image or platform description needs it.
pub const RESERVED_LIMIT: u64 = 2 << 20;
pub const MAX_CPUS: usize = 8;
/// RAM banks hypfw keeps track of (the device tree may list more; the rest are ignored).
pub const MAX_RAM_BANKS: usize = 4;
/// One CPU's runtime stack. The deepest use measured (`stack high-water`, printed by the
/// self-test, the payload's power-off and every HYP fault report) was 1,284 bytes, in the fault
/// report that prints registers; the stack is at least twice that, in whole pages.
pub const STACK_SIZE: u64 = 4 << 10;
/// The unmapped part of a stack slot below the stack.
pub const GUARD_SIZE: u64 = PAGE_SIZE;
/// One CPU's slot in the stack window: the guard, then the stack. Slots are STACK_SLOT aligned so
/// the exception vectors can recognise an SP inside a guard with a single TST.
pub const STACK_SLOT: u64 = GUARD_SIZE + STACK_SIZE;
const _: () = assert!(STACK_SLOT.is_power_of_two() && GUARD_SIZE.is_power_of_two() && GUARD_SIZE >= PAGE_SIZE);
/// Bytes left unused at the top of each slot, so that an empty stack's SP is not slot aligned
/// (which the guard test would mistake for an overflow).
pub const STACK_TOP_GAP: u64 = 64;
/// `tst sp, #GUARD_TEST_MASK` is zero exactly when SP is in the guard (or on a slot base).
pub const GUARD_TEST_MASK: u32 = (STACK_SLOT as u32 - 1) & !(GUARD_SIZE as u32 - 1);
/// The vectors OR this into an SP found in (or within a push of) the guard: it lands in the top
/// 256 bytes of the same slot's stack, from where the overflow is reported.
pub const GUARD_ESCAPE: u32 = (STACK_SLOT as u32 - 1) & !0xFF;
const _: () = assert!(STACK_SIZE >= 512, "GUARD_ESCAPE must land inside the stack with room for the report's push");
/// The word the boot phase paints every stack with: the high-water mark is where it stops.
pub const STACK_PAINT: u32 = 0x57AC_C0DE;

/// Bytes of a stack of `size` bytes that were ever used: `words` is the stack from its lowest
/// address up, painted with `paint` before first use; a stack grows down, so the untouched words
/// are the lowest ones, and the scan stops at the first word that is not paint.
pub fn stack_high_water(size: u64, words: impl IntoIterator<Item = u32>, paint: u32) -> u64 {
    let untouched = words.into_iter().take_while(|&w| w == paint).count() as u64;
    size.saturating_sub(untouched * 4)
}

/// Sizes of the image's sections, from the linker symbols (all page aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    /// Start of the resident copy, offset from the image start: the text below it (the entry code
    /// and the boot phase's own code) runs only at the load address and is not copied. The copy
    /// keeps the image's runtime VAs (`RUNTIME_VA` + image offset), so the VAs below this offset
    /// are left unmapped in the runtime table.
    pub resident_start: u64,
    /// End of .text (start of .rodata), offset from the image start.
    pub text_end: u64,
    /// End of .rodata/.got (start of .data).
    pub rodata_end: u64,
    /// End of .bss: what the resident copy holds.
    pub resident_end: u64,
    /// End of the image as loaded, with what only the boot phase uses (the relocation table, the
    /// boot stack): where a payload pack starts.
    pub image_end: u64,
    /// Offset of the init page.
    pub init_page: u64,
}

impl ImageLayout {
    /// Bytes of the resident copy.
    pub const fn resident_len(&self) -> u64 {
        self.resident_end - self.resident_start
    }
}

/// Offsets inside the reserved region, and where the stacks are in the runtime VA space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReservedLayout {
    pub image: ImageLayout,
    /// CPUs with a stack: those of the device tree (hotplug only ever starts those).
    pub ncpus: usize,
    pub pool_off: u64,
    pub pool_pages: u64,
    /// Region offset of cpu0's stack; the others follow, STACK_SIZE apart.
    pub stacks_off: u64,
    /// Offset from RUNTIME_VA of the stack window (MAX_CPUS slots, STACK_SLOT aligned).
    pub stack_window_off: u64,
    /// The region's size.
    pub end_off: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The image and runtime memory need more than RESERVED_LIMIT.
    TooBig { needed: u64 },
    /// Image sections are not page aligned or out of order, or no CPU (or too many) to lay out.
    BadImage,
    /// The first RAM bank has no free region of the size below 4 GiB and clear of
    /// [`RUNTIME_VAS`].
    NoRegion { size: u64 },
    /// The identity map of the init page would overlap the runtime window or the trampoline.
    IdentityCollision { init_page: PhysAddr, with: &'static str },
}

impl core::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            LayoutError::TooBig { needed } => write!(
                f,
                "image and runtime memory need {needed:#x} bytes, more than the {RESERVED_LIMIT:#x} bytes hypfw allows itself"
            ),
            LayoutError::BadImage => write!(f, "image sections are not page aligned (linker script)"),
            LayoutError::NoRegion { size } => write!(
                f,
                "no free region of {size:#x} bytes for hypfw in any RAM bank below 4 GiB (outside the HYP VAs \
                 {RUNTIME_VA:#x}..{:#x} and {DEVICE_VA:#x}.., which its identity map must not reach)",
                RUNTIME_VA as u64 + RUNTIME_WINDOW_SIZE
            ),
            LayoutError::IdentityCollision { init_page, with } => {
                write!(f, "the identity map of the init page at {init_page} collides with the {with}")
            }
        }
    }
}

impl ReservedLayout {
    /// The region for `image`, stacks for `ncpus` CPUs and a pool of `pool_pages`.
    pub fn new(image: ImageLayout, ncpus: usize, pool_pages: u64) -> Result<Self, LayoutError> {
        let aligned = |v: u64| v.is_multiple_of(PAGE_SIZE);
        if !(aligned(image.resident_start)
            && aligned(image.text_end)
            && aligned(image.rodata_end)
            && aligned(image.resident_end)
            && aligned(image.image_end)
            && aligned(image.init_page))
            || !(image.resident_start <= image.init_page
                && image.init_page < image.text_end
                && image.text_end <= image.rodata_end
                && image.rodata_end <= image.resident_end
                && image.resident_end <= image.image_end)
            || !(1..=MAX_CPUS).contains(&ncpus)
        {
            return Err(LayoutError::BadImage);
        }
        // No heap: nothing in hypfw allocates (the payload's tree is spliced in place).
        let pool_off = image.resident_len();
        let stacks_off = pool_off + pool_pages * PAGE_SIZE;
        let end_off = stacks_off + ncpus as u64 * STACK_SIZE;
        if end_off > RESERVED_LIMIT {
            return Err(LayoutError::TooBig { needed: end_off });
        }
        // Aligned as a VA: the region's VAs start at the copy's first image offset.
        let base = RUNTIME_VA as u64 + image.resident_start;
        let stack_window_off = align_up(base + stacks_off, STACK_SLOT) - base;
        let window_end = base + stack_window_off + MAX_CPUS as u64 * STACK_SLOT;
        if window_end > RUNTIME_VA as u64 + RUNTIME_WINDOW_SIZE {
            return Err(LayoutError::TooBig { needed: window_end - RUNTIME_VA as u64 });
        }
        Ok(Self { image, ncpus, pool_off, pool_pages, stacks_off, stack_window_off, end_off })
    }

    /// The region's size: what the payload does not get.
    pub fn size(&self) -> u64 {
        self.end_off
    }

    /// Runtime VA of a region offset (the linear part: image and pool). The region holds the
    /// image from `image.resident_start` on, at the VAs the image was relocated for.
    #[inline] // the runtime uses it too: inlined, it never calls into the boot-only text
    pub const fn va(&self, off: u64) -> VirtAddr {
        VirtAddr(RUNTIME_VA + (self.image.resident_start + off) as u32)
    }

    /// Region offset of an image offset at or above `image.resident_start`.
    pub const fn image_off(&self, image_off: u64) -> u64 {
        image_off - self.image.resident_start
    }

    /// Region offset of the init page.
    pub const fn init_page_off(&self) -> u64 {
        self.image_off(self.image.init_page)
    }

    fn slot(&self, cpu: usize) -> u64 {
        self.stack_window_off + cpu as u64 * STACK_SLOT
    }
    /// Top of CPU `cpu`'s stack (runtime VA).
    pub fn stack_top(&self, cpu: usize) -> VirtAddr {
        self.va(self.slot(cpu) + STACK_SLOT - STACK_TOP_GAP)
    }
    /// The lowest byte of CPU `cpu`'s stack (runtime VA): STACK_SIZE bytes from here are mapped.
    pub fn stack_bottom(&self, cpu: usize) -> VirtAddr {
        self.va(self.slot(cpu) + GUARD_SIZE)
    }
    /// The guard of CPU `cpu`'s stack (runtime VA, GUARD_SIZE bytes): never mapped.
    pub fn guard_page(&self, cpu: usize) -> VirtAddr {
        self.va(self.slot(cpu))
    }
    /// Region offset of CPU `cpu`'s stack.
    pub fn stack_off(&self, cpu: usize) -> u64 {
        self.stacks_off + cpu as u64 * STACK_SIZE
    }
    /// The stack window (runtime VA): MAX_CPUS slots, whether or not the CPU exists.
    #[inline] // the runtime uses it too: inlined, it never calls into the boot-only text
    pub fn stack_window(&self) -> core::ops::Range<u32> {
        let start = self.va(self.stack_window_off).0;
        start..start + (MAX_CPUS as u64 * STACK_SLOT) as u32
    }
}

/// Distinct table indices, counted without an allocator or a list: exactly when the keys come
/// in ascending order (as the plans' mappings and stage 2's pieces do), an upper bound otherwise
/// (a key seen again after another one counts again).
struct Distinct {
    /// The last key counted (none yet: u32::MAX, which no 2 MiB or 1 GiB block number of a
    /// 40-bit address reaches).
    last: u32,
    n: u64,
}

impl Distinct {
    fn new() -> Self {
        Distinct { last: u32::MAX, n: 0 }
    }
    /// The keys `first..=last` (`first <= last`).
    fn insert_range(&mut self, first: u32, last: u32) {
        self.n += u64::from(last - first + 1 - u32::from(self.last == first));
        self.last = last;
    }
}

const L2_SPAN_SHIFT: u32 = 30;
const L3_SPAN_SHIFT: u32 = 21;

/// Table pages the builder takes for a HYP stage-1 plan, at most: the root, a level-2 table for
/// every 1 GiB the plan touches and a level-3 table for every 2 MiB block it touches (the builder
/// uses no 1 GiB blocks in stage 1, and 2 MiB blocks only where VA and PA both align).
pub fn stage1_table_pages(plan: &dyn Regions) -> u64 {
    let (mut l2, mut l3) = (Distinct::new(), Distinct::new());
    plan.each(&mut |r: &Region| {
        // The last byte: a VA (a mapping ends at the latest at the top of the 32-bit space).
        let (s, e) = (r.va.0, r.va.0.wrapping_add((r.size - 1) as u32));
        l2.insert_range(s >> L2_SPAN_SHIFT, e >> L2_SPAN_SHIFT);
        l3.insert_range(s >> L3_SPAN_SHIFT, e >> L3_SPAN_SHIFT);
        true
    });
    1 + l2.n + l3.n
}

/// Table pages the payload's stage 2 takes, at most: the two-page root (and one page the pool may
/// skip to align it), a level-2 table for every 1 GiB and a level-3 table for every 2 MiB block
/// that a boundary of the identity map (a RAM bank's or a hole's edge) does not align to.
pub fn stage2_table_pages(ram: &[MemRange], holes: &[MemRange]) -> u64 {
    let (mut l2, mut l3) = (Distinct::new(), Distinct::new());
    stage2::partition(ram, holes, |s, e, k| {
        if k == Piece::Hole {
            return;
        }
        for x in [s, e] {
            // IPAs are 40 bits: their 1 GiB and 2 MiB block numbers fit 32.
            if !x.is_multiple_of(1 << L2_SPAN_SHIFT) {
                let k = (x >> L2_SPAN_SHIFT) as u32;
                l2.insert_range(k, k);
            }
            if !x.is_multiple_of(1 << L3_SPAN_SHIFT) {
                let k = (x >> L3_SPAN_SHIFT) as u32;
                l3.insert_range(k, k);
            }
        }
    });
    3 + l2.n + l3.n
}

/// What decides the region's size besides the image.
pub struct RegionInputs<'a> {
    /// CPUs of the device tree (each gets a stack).
    pub ncpus: usize,
    /// The first RAM bank (the region is taken from its top) and every bank (stage 2 maps them).
    pub first_bank: MemRange,
    pub ram: &'a [MemRange],
    /// What the region must not overlap (the loaded file, the device tree, reservations).
    pub avoid: &'a [MemRange],
    /// The devices the runtime table maps.
    pub devices: &'a [Device],
    /// With a payload: the stage-2 holes besides hypfw's own region.
    pub payload_holes: Option<&'a [MemRange]>,
}

/// Page-table pages the boot phase takes from the pool for a region at `base` laid out as `l`.
pub fn pool_need(base: PhysAddr, l: &ReservedLayout, inp: &RegionInputs) -> u64 {
    // The two tables' roots share a page (`FrameAllocator::alloc_root_page`, `PagePool::take_small`).
    let hyp = stage1_table_pages(&boot_plan(base, l)) + stage1_table_pages(&runtime_plan(base, l, inp.devices)) - 1;
    let s2 = inp.payload_holes.map_or(0, |other| {
        let mut holes = [MemRange::default(); stage2::MAX_HOLES];
        holes[0] = MemRange { base: base.0, size: l.size() };
        let n = other.len().min(stage2::MAX_HOLES - 1);
        holes[1..1 + n].copy_from_slice(&other[..n]);
        stage2_table_pages(inp.ram, &holes[..1 + n])
    });
    hyp + s2
}

/// The region: its layout (pool sized to what the tables need at its place) and its base. The
/// pool's size moves the base, and the base can change what the tables need (another 2 MiB block
/// or GiB), so this settles both together; the pool only grows, and the need is bounded.
pub fn plan_region(image: ImageLayout, inp: &RegionInputs) -> Result<(PhysAddr, ReservedLayout), LayoutError> {
    let mut pool = 0;
    loop {
        let l = ReservedLayout::new(image, inp.ncpus, pool)?;
        // The first bank, as a kernel's own early allocations favour; where it has no room (a
        // small first bank, or one the platform reserves whole), the next bank that has.
        let base = choose_reserved_region(inp.first_bank, l.size(), inp.avoid).or_else(|e| {
            inp.ram
                .iter()
                .filter(|b| **b != inp.first_bank)
                .find_map(|b| choose_reserved_region(*b, l.size(), inp.avoid).ok())
                .ok_or(e)
        })?;
        let need = pool_need(base, &l, inp);
        if need <= pool {
            return Ok((base, l));
        }
        pool = need;
    }
}

/// A RAM bank from the DTB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemRange {
    pub base: u64,
    pub size: u64,
}

impl MemRange {
    #[inline] // the runtime uses it too: inlined, it never calls into the boot-only text
    pub fn end(&self) -> u64 {
        self.base + self.size
    }
    pub fn overlaps(&self, o: &MemRange) -> bool {
        self.base < o.end() && o.base < self.end()
    }
}

/// Pick the reserved region: the highest page-aligned `size` bytes in `first_bank` that overlap
/// none of `avoid` (the loaded image, the DTB, ...) and end at or below RUNTIME_VA, as the design
/// recommends and every board with RAM below 3 GiB gets. A first bank with no such room (the
/// STM32MP1's RAM starts at 0xC000_0000) gets the highest free place below 4 GiB that lies
/// outside [`RUNTIME_VAS`]: its init page's identity map then stays clear of every VA the runtime
/// table uses, which is what the two tables need (the boot table maps only the init page, at its
/// identity and at the trampoline; the runtime table has no identity map).
pub fn choose_reserved_region(first_bank: MemRange, size: u64, avoid: &[MemRange]) -> Result<PhysAddr, LayoutError> {
    let size = align_up(size.max(PAGE_SIZE), PAGE_SIZE);
    highest_free(first_bank, RUNTIME_VA as u64, size, avoid, &[])
        .or_else(|_| highest_free(first_bank, 1 << 32, size, avoid, &RUNTIME_VAS))
}

/// The highest page-aligned `size` bytes of `bank` below `limit` that overlap nothing in `avoid`
/// or `also`.
fn highest_free(
    bank: MemRange,
    limit: u64,
    size: u64,
    avoid: &[MemRange],
    also: &[MemRange],
) -> Result<PhysAddr, LayoutError> {
    let lowest = align_up(bank.base, PAGE_SIZE);
    let mut end = align_down(bank.end().min(limit), PAGE_SIZE);
    while end >= lowest + size {
        let cand = MemRange { base: end - size, size };
        match avoid.iter().chain(also).filter(|a| a.size != 0 && a.overlaps(&cand)).map(|a| a.base).min() {
            None => return Ok(PhysAddr(cand.base)),
            // Below the lowest thing in the way.
            Some(b) => end = align_down(b, PAGE_SIZE),
        }
    }
    Err(LayoutError::NoRegion { size })
}

/// The identity map of the init page must not land inside the runtime window, the device window
/// or the trampoline page ([`RUNTIME_VAS`]), or phase 1's identity mapping and the runtime
/// mappings would fight.
pub fn check_identity_collision(init_page: PhysAddr) -> Result<(), LayoutError> {
    let p = init_page.0;
    let page = MemRange { base: p, size: PAGE_SIZE };
    if p >= TRAMPOLINE_VA as u64 && p < TRAMPOLINE_VA as u64 + PAGE_SIZE {
        return Err(LayoutError::IdentityCollision { init_page, with: "trampoline page at 0xffff0000" });
    }
    if RUNTIME_VAS[0].overlaps(&page) {
        return Err(LayoutError::IdentityCollision { init_page, with: "runtime VA window 0xc0000000-0xc03fffff" });
    }
    if RUNTIME_VAS[1].overlaps(&page) {
        return Err(LayoutError::IdentityCollision { init_page, with: "device VA window 0xf0000000-0xffffffff" });
    }
    if p >= 1 << 32 {
        return Err(LayoutError::IdentityCollision { init_page, with: "end of the 32-bit HYP VA space" });
    }
    Ok(())
}

/// One mapping of a page-table plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub name: &'static str,
    pub va: VirtAddr,
    pub pa: PhysAddr,
    pub size: u64,
    pub attrs: MapAttrs,
}

/// A device to map in the runtime table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    pub name: &'static str,
    pub pa: u64,
    pub size: u64,
}

/// The console, the GIC's four parts, and one page the runtime carries accesses out on for the
/// payload: QEMU virt's fw_cfg or a SoC's CPU release block (no platform has both).
pub const MAX_DEVICES: usize = 6;

/// The mappings of one table (the boot table's or the runtime table's), in ascending VA order.
/// Nothing is stored but what the mappings are worked out from: each one is made when the plan is
/// walked ([`Regions::each`]), so the pool's sizing, the builder, the audit and the log each walk
/// the same plan without a list of regions being filled in and copied around (a stored plan was
/// ~900 bytes, copied by value).
#[derive(Clone, Copy, Debug)]
pub struct Plan<'a> {
    region: PhysAddr,
    layout: &'a ReservedLayout,
    /// The init page's physical address.
    init: PhysAddr,
    kind: PlanKind<'a>,
}

// A plan lives on the stack of whoever walks it; the runtime one's windows are not worth an
// indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug)]
enum PlanKind<'a> {
    Boot,
    /// With the devices and their windows.
    Runtime {
        devices: &'a [Device],
        windows: [DeviceWindow; MAX_DEVICES],
    },
}

/// Where a device's pages go in the device window (size 0: nowhere, the window is full).
#[derive(Clone, Copy, Debug, Default)]
struct DeviceWindow {
    va: u32,
    pa: u64,
    size: u64,
}

/// A list of mappings, in order, that a table is built from and audited against: a [`Plan`], or
/// (in tests) a `Vec`. Walked by a callback rather than an iterator: each mapping is made once,
/// in place, and handed over by reference.
pub trait Regions {
    /// Call `f` with each mapping in order until it returns false. Returns false if it stopped
    /// early.
    fn each(&self, f: &mut dyn Visit) -> bool;
}

/// What [`Regions::each`] calls for each mapping: any `FnMut(&Region) -> bool`. A trait of its own
/// rather than `dyn FnMut`, whose vtables carry a `call_once` shim per closure (~100 bytes each)
/// that nothing calls.
pub trait Visit {
    fn region(&mut self, r: &Region) -> bool;
}

impl<F: FnMut(&Region) -> bool> Visit for F {
    fn region(&mut self, r: &Region) -> bool {
        self(r)
    }
}

#[cfg(test)]
impl Regions for std::vec::Vec<Region> {
    fn each(&self, f: &mut dyn Visit) -> bool {
        self.iter().all(|r| f.region(r))
    }
}

impl Regions for Plan<'_> {
    fn each(&self, f: &mut dyn Visit) -> bool {
        let l = self.layout;
        let PlanKind::Runtime { devices, windows } = &self.kind else {
            let identity = Region {
                name: "init page (identity)",
                va: VirtAddr(self.init.0 as u32),
                pa: self.init,
                size: PAGE_SIZE,
                attrs: MapAttrs::TEXT,
            };
            return f.region(&identity) && f.region(&trampoline(self.init));
        };
        let img = &l.image;
        let (text_end, rodata_end) = (l.image_off(img.text_end), l.image_off(img.rodata_end));
        let sections = [
            ("text", 0, text_end, MapAttrs::TEXT),
            ("rodata", text_end, rodata_end, MapAttrs::RODATA),
            ("data+bss", rodata_end, img.resident_len(), MapAttrs::DATA),
            ("page pool", l.pool_off, l.pool_off + l.pool_pages * PAGE_SIZE, MapAttrs::DATA),
        ];
        for (name, off, end, attrs) in sections {
            let r = Region { name, va: l.va(off), pa: self.region.add(off), size: end - off, attrs };
            if r.size != 0 && !f.region(&r) {
                return false;
            }
        }
        for cpu in 0..l.ncpus {
            let r = Region {
                name: "stack",
                va: l.stack_bottom(cpu),
                pa: self.region.add(l.stack_off(cpu)),
                size: STACK_SIZE,
                attrs: MapAttrs::DATA,
            };
            if !f.region(&r) {
                return false;
            }
        }
        for (d, w) in devices.iter().zip(windows.iter()) {
            let r =
                Region { name: d.name, va: VirtAddr(w.va), pa: PhysAddr(w.pa), size: w.size, attrs: MapAttrs::DEVICE };
            if r.size != 0 && !f.region(&r) {
                return false;
            }
        }
        f.region(&trampoline(self.init))
    }
}

impl Plan<'_> {
    /// The plan's mappings, collected (tests).
    #[cfg(test)]
    pub fn to_vec(&self) -> std::vec::Vec<Region> {
        let mut v = std::vec::Vec::new();
        self.each(&mut |r: &Region| {
            v.push(*r);
            true
        });
        v
    }
}

/// The init page at the trampoline VA: the mapping both tables share.
fn trampoline(init: PhysAddr) -> Region {
    Region {
        name: "init page (trampoline)",
        va: VirtAddr(TRAMPOLINE_VA),
        pa: init,
        size: PAGE_SIZE,
        attrs: MapAttrs::TEXT,
    }
}

/// The boot table: the init page at its identity address and at the trampoline VA. Nothing else.
pub fn boot_plan(region: PhysAddr, l: &ReservedLayout) -> Plan<'_> {
    Plan { region, layout: l, init: region.add(l.init_page_off()), kind: PlanKind::Boot }
}

/// The device window's pages of each device, in order, while they fit below DEVICE_VA_END.
fn device_windows(devices: &[Device]) -> [DeviceWindow; MAX_DEVICES] {
    let mut next = DEVICE_VA as u64;
    core::array::from_fn(|i| {
        let Some(d) = devices.get(i) else { return DeviceWindow::default() };
        let start = align_down(d.pa, PAGE_SIZE);
        let size = align_up(d.pa + d.size, PAGE_SIZE) - start;
        if next + size > DEVICE_VA_END as u64 {
            next = DEVICE_VA_END as u64 + 1; // full: no later device fits either
            return DeviceWindow::default();
        }
        let w = DeviceWindow { va: next as u32, pa: start, size };
        next += size;
        w
    })
}

/// Device mappings in the device window, in order. Returns the VA of each device (the VA of its
/// first byte, keeping the offset within the page).
pub fn device_vas(devices: &[Device]) -> [Option<VirtAddr>; MAX_DEVICES] {
    let windows = device_windows(devices);
    core::array::from_fn(|i| {
        let w = windows[i];
        (w.size != 0).then(|| VirtAddr(w.va + (devices[i].pa - w.pa) as u32))
    })
}

/// The runtime table: the reserved region by section with W^X, the pool, the stacks of the CPUs
/// in their slots (guards unmapped), devices, and the init page at the trampoline VA. No identity
/// map.
pub fn runtime_plan<'a>(region: PhysAddr, l: &'a ReservedLayout, devices: &'a [Device]) -> Plan<'a> {
    let kind = PlanKind::Runtime { devices, windows: device_windows(devices) };
    Plan { region, layout: l, init: region.add(l.init_page_off()), kind }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn image() -> ImageLayout {
        ImageLayout {
            resident_start: 0,
            text_end: 0x10000,
            rodata_end: 0x18000,
            resident_end: 0x20000,
            image_end: 0x2C000,
            init_page: 0x1000,
        }
    }

    #[test]
    fn layout_packs_the_region_and_guards_the_stack_slots() {
        let l = ReservedLayout::new(image(), MAX_CPUS, 18).unwrap();
        assert_eq!(l.pool_off, 0x20000, "the pool follows .bss: no boot stack, no relocation table");
        assert_eq!(l.stacks_off, 0x20000 + 18 * PAGE_SIZE);
        assert_eq!(l.size(), 0x20000 + 18 * PAGE_SIZE + MAX_CPUS as u64 * STACK_SIZE, "no guard pages in the region");
        assert_eq!((RUNTIME_VA as u64 + l.stack_window_off) % STACK_SLOT, 0);
        assert!(l.stack_window_off >= l.stacks_off, "the window lies above the linear part");
        for cpu in 0..MAX_CPUS {
            let g = l.guard_page(cpu).0;
            for off in (0..GUARD_SIZE as u32).step_by(4) {
                assert_eq!((g + off) & GUARD_TEST_MASK, 0, "every guard byte is detected by TST");
            }
            assert_ne!(l.stack_top(cpu).0 & GUARD_TEST_MASK, 0, "empty stack not taken for overflow");
            assert_eq!(l.stack_bottom(cpu).0, g + GUARD_SIZE as u32);
            assert_ne!(l.stack_bottom(cpu).0 & GUARD_TEST_MASK, 0, "lowest stack byte is not guard");
            assert_eq!(l.stack_top(cpu).0 + STACK_TOP_GAP as u32 - l.stack_bottom(cpu).0, STACK_SIZE as u32);
            // The vectors' escape: from any SP in the guard, or within a 64-byte push above it,
            // into this slot's stack with room for the 56-byte push.
            for sp in (g..g + GUARD_SIZE as u32 + 64).step_by(4) {
                let flagged = sp & GUARD_TEST_MASK == 0 || (sp - 64) & GUARD_TEST_MASK == 0;
                assert!(flagged, "SP {sp:#x} near the guard is caught");
                let esc = sp | GUARD_ESCAPE;
                assert!(esc - 56 >= l.stack_bottom(cpu).0 && esc <= g + STACK_SLOT as u32, "escape {esc:#x}");
            }
        }
        assert_eq!(l.stack_window(), l.guard_page(0).0..l.guard_page(0).0 + (MAX_CPUS as u64 * STACK_SLOT) as u32);
    }

    #[test]
    fn boot_only_text_stays_out_of_the_region_and_its_vas_unmapped() {
        let img = ImageLayout { resident_start: 0x8000, init_page: 0x8000, ..image() };
        let l = ReservedLayout::new(img, 2, 10).unwrap();
        assert_eq!(l.pool_off, 0x18000, "the region holds the image from its resident start");
        assert_eq!(l.init_page_off(), 0, "the init page is the copy's first page");
        assert_eq!(l.va(0).0, RUNTIME_VA + 0x8000, "the copy keeps the image's VAs");
        assert_eq!((RUNTIME_VA as u64 + 0x8000 + l.stack_window_off) % STACK_SLOT, 0);
        assert!(l.stack_window_off >= l.stacks_off);
        let region = PhysAddr(0x4700_0000);
        let plan = runtime_plan(region, &l, &[]).to_vec();
        let find = |plan: &[Region], name| *plan.iter().find(|r| r.name == name).unwrap();
        let text = find(&plan, "text");
        assert_eq!((text.va.0, text.pa, text.size), (RUNTIME_VA + 0x8000, region, 0x8000));
        let data = find(&plan, "data+bss");
        assert_eq!((data.va.0, data.pa, data.size), (RUNTIME_VA + 0x18000, region.add(0x10000), 0x8000));
        assert!(plan.iter().all(|r| !(RUNTIME_VA..RUNTIME_VA + 0x8000).contains(&r.va.0)), "boot-only VAs unmapped");
        assert_eq!(find(&boot_plan(region, &l).to_vec(), "init page (identity)").pa, region);
        let bad = ImageLayout { resident_start: 0x9000, ..img };
        assert_eq!(ReservedLayout::new(bad, 1, 10), Err(LayoutError::BadImage), "the init page must be resident");
    }

    #[test]
    fn fewer_cpus_take_fewer_stacks() {
        let one = ReservedLayout::new(image(), 1, 10).unwrap();
        let eight = ReservedLayout::new(image(), 8, 10).unwrap();
        assert_eq!(eight.size() - one.size(), 7 * STACK_SIZE);
        assert_eq!(ReservedLayout::new(image(), 0, 10), Err(LayoutError::BadImage));
        assert_eq!(ReservedLayout::new(image(), MAX_CPUS + 1, 10), Err(LayoutError::BadImage));
    }

    #[test]
    fn stack_high_water_counts_from_the_first_overwritten_word() {
        let p = STACK_PAINT;
        assert_eq!(stack_high_water(16, [p, p, p, p], p), 0);
        assert_eq!(stack_high_water(16, [p, p, 0, p], p), 8, "a painted-looking word above the mark counts as used");
        assert_eq!(stack_high_water(16, [1, p, p, p], p), 16);
        assert_eq!(stack_high_water(0, [], p), 0);
    }

    #[test]
    fn too_big_image_is_refused() {
        let mut i = image();
        i.resident_end = 0x1F0000;
        i.image_end = 0x1F0000;
        assert!(matches!(ReservedLayout::new(i, 8, 32), Err(LayoutError::TooBig { .. })));
    }

    #[test]
    fn region_is_top_of_bank_below_window() {
        let sz = 0x3C000;
        let qemu_128m = MemRange { base: 0x4000_0000, size: 128 << 20 };
        assert_eq!(choose_reserved_region(qemu_128m, sz, &[]), Ok(PhysAddr(0x4800_0000 - sz)));
        let qemu_2g = MemRange { base: 0x4000_0000, size: 2 << 30 };
        assert_eq!(choose_reserved_region(qemu_2g, sz, &[]), Ok(PhysAddr(0xC000_0000 - sz)));
        let qemu_4g = MemRange { base: 0x4000_0000, size: 4 << 30 };
        assert_eq!(choose_reserved_region(qemu_4g, sz, &[]), Ok(PhysAddr(0xC000_0000 - sz)));
        let board = MemRange { base: 0x8000_0000, size: 2 << 30 };
        assert_eq!(choose_reserved_region(board, sz, &[]), Ok(PhysAddr(0xC000_0000 - sz)));
        // A size that is not whole pages is rounded up; a bank end that is not, down.
        let odd = MemRange { base: 0x4000_0000, size: (64 << 20) + 0x800 };
        assert_eq!(choose_reserved_region(odd, sz - 0x10, &[]), Ok(PhysAddr(0x4400_0000 - sz)));
    }

    #[test]
    fn region_avoids_image_and_dtb() {
        let bank = MemRange { base: 0x4000_0000, size: 128 << 20 };
        let dtb = MemRange { base: 0x47F0_0000, size: 0x10_0000 };
        let img = MemRange { base: 0x47EE_0000, size: 0x1_0000 };
        let sz = 0x3C000;
        // Below the DTB, then below the image, which the first try under the DTB still overlaps.
        assert_eq!(choose_reserved_region(bank, sz, &[dtb, img]), Ok(PhysAddr(0x47EE_0000 - sz)));
        // A gap between them big enough is used.
        let img = MemRange { base: 0x47A0_0000, size: 0x4_0000 };
        assert_eq!(choose_reserved_region(bank, sz, &[dtb, img]), Ok(PhysAddr(0x47F0_0000 - sz)));
    }

    /// A first bank at 0xC000_0000 (STM32MP1) has no room below RUNTIME_VA: the region goes to
    /// its top below the device window, or below 4 GiB, never into the runtime's linear window.
    #[test]
    fn region_in_a_bank_above_runtime_va_stays_clear_of_the_runtime_vas() {
        let sz = 0x40000;
        let stm32mp1 = MemRange { base: 0xC000_0000, size: 512 << 20 };
        assert_eq!(choose_reserved_region(stm32mp1, sz, &[]), Ok(PhysAddr(0xE000_0000 - sz)));
        let big = MemRange { base: 0xC000_0000, size: 1 << 30 };
        assert_eq!(choose_reserved_region(big, sz, &[]), Ok(PhysAddr(0xF000_0000 - sz)));
        // Everything above the linear window busy: nothing is placed inside the window.
        let small = MemRange { base: 0xC000_0000, size: 8 << 20 };
        let busy = MemRange { base: 0xC040_0000, size: 0x40_0000 };
        assert_eq!(choose_reserved_region(small, sz, &[busy]), Err(LayoutError::NoRegion { size: sz }));
        assert_eq!(choose_reserved_region(small, sz, &[]), Ok(PhysAddr(0xC080_0000 - sz)));
        // A bank across RUNTIME_VA still prefers its part below.
        let across = MemRange { base: 0xB000_0000, size: 512 << 20 };
        assert_eq!(choose_reserved_region(across, sz, &[]), Ok(PhysAddr(0xC000_0000 - sz)));
        // ... and uses the part above when the part below is taken.
        let below = MemRange { base: 0xB000_0000, size: 256 << 20 };
        assert_eq!(choose_reserved_region(across, sz, &[below]), Ok(PhysAddr(0xD000_0000 - sz)));
        // Every init page of such a region is clear of the runtime's VAs.
        for base in [0xE000_0000 - sz, 0xF000_0000 - sz, 0xC080_0000 - sz] {
            for off in (0..sz).step_by(PAGE_SIZE as usize) {
                assert!(check_identity_collision(PhysAddr(base + off)).is_ok(), "{:#x}", base + off);
            }
        }
    }

    #[test]
    fn no_region_when_bank_is_above_4g_or_tiny() {
        assert_eq!(
            choose_reserved_region(MemRange { base: 0xF000_0000, size: 1 << 30 }, 0x40000, &[]),
            Err(LayoutError::NoRegion { size: 0x40000 })
        );
        assert_eq!(
            choose_reserved_region(MemRange { base: 0x1_0000_0000, size: 1 << 30 }, 0x40000, &[]),
            Err(LayoutError::NoRegion { size: 0x40000 })
        );
        assert_eq!(
            choose_reserved_region(MemRange { base: 0x4000_0000, size: 0x3F000 }, 0x40000, &[]),
            Err(LayoutError::NoRegion { size: 0x40000 })
        );
        let bank = MemRange { base: 0x4000_0000, size: 0x80000 };
        let busy = MemRange { base: 0x4002_0000, size: 0x30000 };
        assert_eq!(choose_reserved_region(bank, 0x40000, &[busy]), Err(LayoutError::NoRegion { size: 0x40000 }));
    }

    fn qemu_inputs<'a>(
        devices: &'a [Device],
        holes: Option<&'a [MemRange]>,
        ram: &'a [MemRange],
        ncpus: usize,
    ) -> RegionInputs<'a> {
        RegionInputs { ncpus, first_bank: ram[0], ram, avoid: &[], devices, payload_holes: holes }
    }

    const QEMU_DEVICES: [Device; 5] = [
        Device { name: "console", pa: 0x0900_0000, size: 0x1000 },
        Device { name: "gicd", pa: 0x0800_0000, size: 0x10000 },
        Device { name: "gicc", pa: 0x0801_0000, size: 0x10000 },
        Device { name: "gich", pa: 0x0803_0000, size: 0x10000 },
        Device { name: "gicv", pa: 0x0804_0000, size: 0x10000 },
    ];
    const QEMU_HOLES: [MemRange; 2] =
        [MemRange { base: 0x0803_0000, size: 0x10000 }, MemRange { base: 0x0902_0000, size: 0x1000 }];

    /// QEMU virt with 1 GiB: the region ends at the top of RAM; the pool holds the boot table
    /// (4 pages and a root), the runtime table (4 and a root; the roots share a page) and, with a
    /// payload, stage 2 (8 at most).
    #[test]
    fn region_plan_for_qemu_virt() {
        let ram = [MemRange { base: 0x4000_0000, size: 1 << 30 }];
        let (base, l) = plan_region(image(), &qemu_inputs(&QEMU_DEVICES, None, &ram, 1)).unwrap();
        assert_eq!(l.pool_pages, 9);
        assert_eq!(base.0 + l.size(), 0x8000_0000);
        let (base8, l8) = plan_region(image(), &qemu_inputs(&QEMU_DEVICES, Some(&QEMU_HOLES), &ram, 8)).unwrap();
        assert_eq!(l8.pool_pages, 9 + 8);
        assert_eq!(l8.size(), 0x20000 + 17 * PAGE_SIZE + 8 * STACK_SIZE);
        assert_eq!(base8.0 + l8.size(), 0x8000_0000);
        assert!(pool_need(base8, &l8, &qemu_inputs(&QEMU_DEVICES, Some(&QEMU_HOLES), &ram, 8)) <= l8.pool_pages);
    }

    /// A first bank with no room (here reserved whole by the platform) leaves the region to the
    /// next bank that has it, at its top.
    #[test]
    fn a_first_bank_without_room_passes_the_region_on() {
        let ram = [MemRange { base: 0x4000_0000, size: 16 << 20 }, MemRange { base: 0x6000_0000, size: 256 << 20 }];
        let reserved = [MemRange { base: 0x4000_0000, size: 16 << 20 }];
        let inp = RegionInputs { avoid: &reserved, ..qemu_inputs(&QEMU_DEVICES, None, &ram, 2) };
        let (base, l) = plan_region(image(), &inp).unwrap();
        assert_eq!(base.0 + l.size(), 0x7000_0000);
        // Nowhere at all: the first bank's error.
        let everything = [ram[0], ram[1]];
        let inp = RegionInputs { avoid: &everything, ..qemu_inputs(&QEMU_DEVICES, None, &ram, 2) };
        assert!(matches!(plan_region(image(), &inp), Err(LayoutError::NoRegion { .. })));
    }

    #[test]
    fn identity_collisions_are_named() {
        assert!(check_identity_collision(PhysAddr(0xBFE0_1000)).is_ok());
        // Above RUNTIME_VA, only the VAs the runtime table uses are in the way.
        assert!(check_identity_collision(PhysAddr(0xC800_1000)).is_ok());
        assert!(check_identity_collision(PhysAddr(0xC040_0000)).is_ok());
        assert!(matches!(
            check_identity_collision(PhysAddr(0xC03F_F000)),
            Err(LayoutError::IdentityCollision { with: "runtime VA window 0xc0000000-0xc03fffff", .. })
        ));
        assert!(matches!(
            check_identity_collision(PhysAddr(0xF000_0000)),
            Err(LayoutError::IdentityCollision { with: "device VA window 0xf0000000-0xffffffff", .. })
        ));
        assert!(matches!(
            check_identity_collision(PhysAddr(0xFFFF_0000)),
            Err(LayoutError::IdentityCollision { with: "trampoline page at 0xffff0000", .. })
        ));
        assert!(check_identity_collision(PhysAddr(0x1_0000_0000)).is_err());
    }

    #[test]
    fn device_vas_keep_page_offsets_and_do_not_overlap() {
        let devs = [
            Device { name: "uart", pa: 0x0900_0000, size: 0x1000 },
            Device { name: "gicd", pa: 0x0800_0000, size: 0x10000 },
            Device { name: "odd", pa: 0x7000_6300, size: 0x40 },
        ];
        let v = device_vas(&devs);
        assert_eq!(v[0], Some(VirtAddr(0xF000_0000)));
        assert_eq!(v[1], Some(VirtAddr(0xF000_1000)));
        assert_eq!(v[2], Some(VirtAddr(0xF001_1300)));
    }
}

/// Properties of the two tables the boot CPU builds, over random placements, image sizes and
/// device sets: built with the real builder into simulated memory and walked like the MMU would.
#[cfg(test)]
mod table_props {
    use super::*;
    use crate::mm::audit;
    use crate::mm::cache::Recorder;
    use crate::mm::pgtable::testmem::{Pool, SimMem};
    use crate::mm::pgtable::{TableBuilder, translate};
    use proptest::prelude::*;

    /// The table of `plan`: its root, and how many leaves the builder wrote.
    fn build(plan: &Plan, pool: &mut Pool, mem: &mut SimMem) -> (PhysAddr, usize) {
        let mut rec = Recorder::default();
        let mut b = TableBuilder::new(pool, mem, &mut rec).unwrap();
        for r in plan.to_vec() {
            b.map(r.va, r.pa, r.size, r.attrs).unwrap_or_else(|e| panic!("{}: {e}", r.name));
        }
        let leaves = b.leaves();
        (b.publish(), leaves)
    }

    fn arb_image() -> impl Strategy<Value = ImageLayout> {
        (1u64..40, 1u64..30, 1u64..30, 0u64..8, 0u64..20).prop_map(|(t, r, d, i, b)| ImageLayout {
            // The boot-only text: the first `b` of the `i` + `b` pages below the init page.
            resident_start: i.min(b) * PAGE_SIZE,
            text_end: (t + i + 1) * PAGE_SIZE,
            rodata_end: (t + i + 1 + r) * PAGE_SIZE,
            resident_end: (t + i + 1 + r + d) * PAGE_SIZE,
            image_end: (t + i + 1 + r + d + 8) * PAGE_SIZE,
            init_page: (i + 1) * PAGE_SIZE,
        })
    }

    fn arb_devices() -> impl Strategy<Value = Vec<Device>> {
        proptest::collection::vec(
            ((0u64..0x1_0000_0000u64), (1u64..0x2_0000)).prop_map(|(pa, size)| Device {
                name: "dev",
                pa: pa & !3,
                size,
            }),
            0..MAX_DEVICES,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn boot_and_runtime_tables(image in arb_image(), bank_mib in 16u64..3072, base_sel in 0usize..4,
                                   devices in arb_devices(), ncpus in 1usize..=MAX_CPUS) {
            let bank_mib = if base_sel == 3 { bank_mib.min(1024) } else { bank_mib };
            let base = [0x4000_0000u64, 0x8000_0000, 0x2000_0000, 0xC000_0000][base_sel];
            let bank = MemRange { base, size: bank_mib << 20 };
            let inputs = RegionInputs { ncpus, first_bank: bank, ram: &[bank], avoid: &[], devices: &devices, payload_holes: None };
            let Ok((region, l)) = plan_region(image, &inputs) else {
                prop_assume!(false);
                unreachable!()
            };
            let mut mem = SimMem::default();
            let mut pool = Pool::new(0x1_0000_0000, 64);
            let (boot, _) = build(&boot_plan(region, &l), &mut pool, &mut mem);
            let rplan = runtime_plan(region, &l, &devices);
            let (rt, rt_leaves) = build(&rplan, &mut pool, &mut mem);
            // Both plans come in ascending VA order without overlaps (the pool's sizing counts
            // table indices exactly on that).
            for plan in [boot_plan(region, &l), rplan] {
                let mut end = 0u64;
                for r in plan.to_vec() {
                    prop_assert!(r.va.0 as u64 >= end, "{} at {} overlaps or precedes the mapping before", r.name, r.va);
                    end = r.va.0 as u64 + r.size;
                }
            }
            // The audit finds the runtime table as planned, every leaf written a planned one; only a
            // device in RAM (outside hypfw's region) is refused.
            let e = audit::Expected { region, layout: &l, init_page: region.add(l.init_page_off()), ram: &[bank], leaves_written: rt_leaves };
            match audit::runtime_table(&mem, rt, &rplan, &e) {
                Ok(n) => prop_assert_eq!(n, rt_leaves),
                Err(audit::AuditError::PayloadRamMapped { va, pa }) => {
                    let r = rplan.to_vec().into_iter().find(|r| r.va.0 as u64 == va).unwrap();
                    let in_ram = bank.overlaps(&MemRange { base: pa, size: r.size });
                    prop_assert!(r.attrs == MapAttrs::DEVICE && r.pa.0 == pa && in_ram, "{} at {:#x}", r.name, pa);
                }
                Err(e) => prop_assert!(false, "audit: {}", e),
            }
            // The pool the region was sized with holds both tables.
            prop_assert!(pool.handed_out.len() as u64 <= l.pool_pages, "{} pages used, pool {}", pool.handed_out.len(), l.pool_pages);
            prop_assert!(region.0 + l.size() <= bank.end() && region.0 >= bank.base);
            // Below RUNTIME_VA where the bank has room there; anywhere, clear of the runtime's VAs.
            if bank.base + l.size() <= RUNTIME_VA as u64 {
                prop_assert!(region.0 + l.size() <= RUNTIME_VA as u64);
            }
            let whole = MemRange { base: region.0, size: l.size() };
            prop_assert!(RUNTIME_VAS.iter().all(|v| !v.overlaps(&whole)) && whole.end() <= 1 << 32);
            prop_assert!(check_identity_collision(region.add(l.init_page_off())).is_ok());

            // Every requested range is mapped with the requested attributes, page by page.
            for r in rplan.to_vec() {
                for off in (0..r.size).step_by(PAGE_SIZE as usize) {
                    let t = translate(&mem, rt, VirtAddr(r.va.0 + off as u32)).expect(r.name);
                    prop_assert_eq!(t.pa, r.pa.add(off));
                    prop_assert_eq!(t.desc.attrs(), Some(r.attrs));
                }
            }
            // W^X: walk every page of the runtime window.
            for va in (RUNTIME_VA as u64..1 << 32).step_by(PAGE_SIZE as usize) {
                if let Some(t) = translate(&mem, rt, VirtAddr(va as u32)) {
                    let a = t.desc.attrs().unwrap();
                    prop_assert!(!(a.writable && a.executable), "W+X at {va:#x}");
                }
            }
            // The trampoline maps the same PA (the init page) in both tables.
            let init = region.add(l.init_page_off());
            let tb = translate(&mem, boot, VirtAddr(TRAMPOLINE_VA)).unwrap();
            let tr = translate(&mem, rt, VirtAddr(TRAMPOLINE_VA)).unwrap();
            prop_assert_eq!(tb.pa, init);
            prop_assert_eq!(tr.pa, init);
            // Identity map: in the boot table, not in the runtime table.
            prop_assert_eq!(translate(&mem, boot, VirtAddr(init.0 as u32)).map(|t| t.pa), Some(init));
            prop_assert!(translate(&mem, rt, VirtAddr(init.0 as u32)).is_none());
            // The boot table maps nothing else: the init page's neighbours are unmapped.
            prop_assert!(translate(&mem, boot, VirtAddr(init.0 as u32 + PAGE_SIZE as u32)).is_none());
            prop_assert!(translate(&mem, boot, VirtAddr(RUNTIME_VA)).is_none());
            // Guards are never mapped; the stack right above them is, for the CPUs that exist; the
            // other slots are not mapped at all. Each stack has its own page of the region.
            for cpu in 0..MAX_CPUS {
                for off in (0..GUARD_SIZE).step_by(PAGE_SIZE as usize) {
                    prop_assert!(translate(&mem, rt, VirtAddr(l.guard_page(cpu).0 + off as u32)).is_none());
                }
                let top = translate(&mem, rt, VirtAddr(l.stack_top(cpu).0 - 4));
                let bottom = translate(&mem, rt, l.stack_bottom(cpu));
                if cpu < ncpus {
                    prop_assert_eq!(bottom.map(|t| t.pa), Some(region.add(l.stack_off(cpu))));
                    prop_assert_eq!(top.map(|t| t.pa.0), Some(region.0 + l.stack_off(cpu) + STACK_SIZE - STACK_TOP_GAP - 4));
                } else {
                    prop_assert!(top.is_none() && bottom.is_none());
                }
            }
        }
    }
}
