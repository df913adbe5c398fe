//! Where everything lives: the reserved physical region, the HYP VA layout, and the list of
//! mappings that make up the boot and runtime page tables (`docs/architecture.md` draws it).
//!
//! The reserved region is 2 MiB, 2 MiB aligned, taken from the top of the first RAM bank below the
//! runtime VA window. It is mapped linearly: runtime VA = RUNTIME_VA + (PA - region base).
//!
//! ```text
//! region offset  contents                          runtime mapping
//! 0              image .text (init page inside)    RX
//!                image .rodata, .rel.dyn, .got     R, XN
//!                image .data, .bss                 RW, XN
//! pool_off       page-table pool (POOL_PAGES)      RW, XN
//! stacks_off     MAX_CPUS x STACK_SLOT:            first page of each slot unmapped (guard),
//!                  [guard 4K][stack]               rest RW, XN
//! ```

use crate::mm::addr::{PAGE_SIZE, PhysAddr, VirtAddr, align_down, align_up};
use crate::mm::pgtable::MapAttrs;

pub const RUNTIME_VA: u32 = 0xC000_0000;
/// Device mappings (console, GIC) are placed from here upwards.
pub const DEVICE_VA: u32 = 0xF000_0000;
pub const DEVICE_VA_END: u32 = 0xFFF0_0000;
/// The ARM "vectors page" VA: the init page is mapped here in both tables.
pub const TRAMPOLINE_VA: u32 = 0xFFFF_0000;

pub const RESERVED_SIZE: u64 = 2 << 20;
pub const RESERVED_ALIGN: u64 = 2 << 20;
pub const MAX_CPUS: usize = 8;
/// RAM banks hypfw keeps track of (the device tree may list more; the rest are ignored).
pub const MAX_RAM_BANKS: usize = 4;
pub const POOL_PAGES: u64 = 32;
/// One CPU's stack slot: a guard page at the bottom, then the stack. Slots are STACK_SLOT aligned
/// so the exception vectors can recognise an SP inside a guard page with a single TST.
pub const STACK_SLOT: u64 = 32 << 10;
pub const GUARD_SIZE: u64 = PAGE_SIZE;
/// Bytes left unused at the top of each slot, so that an empty stack's SP is not slot aligned
/// (which the guard-page test would mistake for an overflow).
pub const STACK_TOP_GAP: u64 = 64;
/// `tst sp, #GUARD_TEST_MASK` is zero exactly when SP is in the guard page (or on a slot base).
pub const GUARD_TEST_MASK: u32 = (STACK_SLOT as u32 - 1) & !(GUARD_SIZE as u32 - 1);
/// How far the vectors move an SP found in the guard page, to report the overflow.
pub const GUARD_ESCAPE: u32 = (STACK_SLOT / 2) as u32;

/// Sizes of the image's sections, from the linker symbols (all page aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    /// End of .text (start of .rodata), offset from the image start.
    pub text_end: u64,
    /// End of .rodata/.got (start of .data).
    pub rodata_end: u64,
    /// End of .bss: the whole image.
    pub image_end: u64,
    /// Offset of the init page.
    pub init_page: u64,
}

/// Offsets inside the reserved region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReservedLayout {
    pub image: ImageLayout,
    pub pool_off: u64,
    pub stacks_off: u64,
    pub end_off: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The image and runtime memory do not fit the reserved region.
    TooBig { needed: u64 },
    /// Image sections are not page aligned or out of order.
    BadImage,
    /// No RAM bank has a 2 MiB-aligned free region below the runtime VA window.
    NoRegion,
    /// The identity map of the init page would overlap the runtime window or the trampoline.
    IdentityCollision { init_page: PhysAddr, with: &'static str },
}

impl core::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            LayoutError::TooBig { needed } => write!(
                f,
                "image and runtime memory need {needed:#x} bytes, more than the {RESERVED_SIZE:#x}-byte reserved region"
            ),
            LayoutError::BadImage => write!(f, "image sections are not page aligned (linker script)"),
            LayoutError::NoRegion => write!(
                f,
                "no free 2 MiB-aligned region of {RESERVED_SIZE:#x} bytes in the first RAM bank below {RUNTIME_VA:#x}"
            ),
            LayoutError::IdentityCollision { init_page, with } => write!(
                f,
                "the identity map of the init page at {init_page} collides with the {with}; it must lie below {RUNTIME_VA:#x}"
            ),
        }
    }
}

impl ReservedLayout {
    pub fn new(image: ImageLayout) -> Result<Self, LayoutError> {
        let aligned = |v: u64| v.is_multiple_of(PAGE_SIZE);
        if !(aligned(image.text_end)
            && aligned(image.rodata_end)
            && aligned(image.image_end)
            && aligned(image.init_page))
            || !(image.init_page < image.text_end
                && image.text_end <= image.rodata_end
                && image.rodata_end <= image.image_end)
        {
            return Err(LayoutError::BadImage);
        }
        let pool_off = image.image_end;
        // No heap: nothing in hypfw allocates (the payload's tree is spliced in place).
        let stacks_off = align_up(pool_off + POOL_PAGES * PAGE_SIZE, STACK_SLOT);
        let end_off = stacks_off + MAX_CPUS as u64 * STACK_SLOT;
        if end_off > RESERVED_SIZE {
            return Err(LayoutError::TooBig { needed: end_off });
        }
        Ok(Self { image, pool_off, stacks_off, end_off })
    }

    /// Runtime VA of a region offset.
    pub const fn va(off: u64) -> VirtAddr {
        VirtAddr(RUNTIME_VA + off as u32)
    }

    /// Top of CPU `cpu`'s stack (runtime VA).
    pub fn stack_top(&self, cpu: usize) -> VirtAddr {
        Self::va(self.stacks_off + (cpu as u64 + 1) * STACK_SLOT - STACK_TOP_GAP)
    }
    /// The guard page of CPU `cpu`'s stack (runtime VA): never mapped.
    pub fn guard_page(&self, cpu: usize) -> VirtAddr {
        Self::va(self.stacks_off + cpu as u64 * STACK_SLOT)
    }
}

/// A RAM bank from the DTB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemRange {
    pub base: u64,
    pub size: u64,
}

impl MemRange {
    pub fn end(&self) -> u64 {
        self.base + self.size
    }
    pub fn overlaps(&self, o: &MemRange) -> bool {
        self.base < o.end() && o.base < self.end()
    }
}

/// Pick the reserved region: the highest RESERVED_ALIGN-aligned block of RESERVED_SIZE bytes in
/// `first_bank` that ends at or below RUNTIME_VA (so its identity map cannot collide with the
/// runtime window) and overlaps none of `avoid` (the loaded image, the DTB, ...).
pub fn choose_reserved_region(first_bank: MemRange, avoid: &[MemRange]) -> Result<PhysAddr, LayoutError> {
    let limit = first_bank.end().min(RUNTIME_VA as u64);
    if limit < RESERVED_SIZE {
        return Err(LayoutError::NoRegion);
    }
    let mut base = align_down(limit - RESERVED_SIZE, RESERVED_ALIGN);
    while base >= first_bank.base {
        let cand = MemRange { base, size: RESERVED_SIZE };
        if !avoid.iter().any(|a| a.size != 0 && a.overlaps(&cand)) {
            return Ok(PhysAddr(base));
        }
        if base < RESERVED_ALIGN {
            break;
        }
        base -= RESERVED_ALIGN;
    }
    Err(LayoutError::NoRegion)
}

/// The identity map of the init page must not land inside the runtime window, the device window
/// or the trampoline page, or phase 1's identity mapping and the runtime mappings would fight.
pub fn check_identity_collision(init_page: PhysAddr) -> Result<(), LayoutError> {
    let p = init_page.0;
    if p >= TRAMPOLINE_VA as u64 && p < TRAMPOLINE_VA as u64 + PAGE_SIZE {
        return Err(LayoutError::IdentityCollision { init_page, with: "trampoline page at 0xffff0000" });
    }
    if p >= RUNTIME_VA as u64 && p < 1 << 32 {
        return Err(LayoutError::IdentityCollision { init_page, with: "runtime VA window 0xc0000000-0xffffffff" });
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

pub const MAX_PLAN: usize = 8 + MAX_CPUS + MAX_DEVICES;
pub const MAX_DEVICES: usize = 6;

/// A fixed-capacity list of regions (no allocator before the runtime).
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    regions: [Option<Region>; MAX_PLAN],
    len: usize,
}

impl Plan {
    const fn new() -> Self {
        Plan { regions: [None; MAX_PLAN], len: 0 }
    }
    fn push(&mut self, r: Region) {
        if r.size == 0 {
            return;
        }
        self.regions[self.len] = Some(r);
        self.len += 1;
    }
    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.regions[..self.len].iter().flatten()
    }
    pub fn find(&self, name: &str) -> Option<&Region> {
        self.iter().find(|r| r.name == name)
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
pub fn boot_plan(region: PhysAddr, l: &ReservedLayout) -> Plan {
    let init = region.add(l.image.init_page);
    let mut p = Plan::new();
    p.push(Region {
        name: "init page (identity)",
        va: VirtAddr(init.0 as u32),
        pa: init,
        size: PAGE_SIZE,
        attrs: MapAttrs::TEXT,
    });
    p.push(trampoline(init));
    p
}

/// Device mappings in the device window, in order. Returns the VA of each device (the VA of its
/// first byte, keeping the offset within the page).
pub fn device_vas(devices: &[Device]) -> [Option<VirtAddr>; MAX_DEVICES] {
    let mut out = [None; MAX_DEVICES];
    let mut next = DEVICE_VA as u64;
    for (i, d) in devices.iter().take(MAX_DEVICES).enumerate() {
        let start = align_down(d.pa, PAGE_SIZE);
        let len = align_up(d.pa + d.size, PAGE_SIZE) - start;
        if next + len > DEVICE_VA_END as u64 {
            break;
        }
        out[i] = Some(VirtAddr((next + (d.pa - start)) as u32));
        next += len;
    }
    out
}

/// The runtime table: the reserved region by section with W^X, heap, guarded stacks, devices,
/// and the init page at the trampoline VA. No identity map.
pub fn runtime_plan(region: PhysAddr, l: &ReservedLayout, devices: &[Device]) -> Plan {
    let mut p = Plan::new();
    let img = &l.image;
    let r = |name, off: u64, end: u64, attrs| Region {
        name,
        va: ReservedLayout::va(off),
        pa: region.add(off),
        size: end - off,
        attrs,
    };
    p.push(r("text", 0, img.text_end, MapAttrs::TEXT));
    p.push(r("rodata", img.text_end, img.rodata_end, MapAttrs::RODATA));
    p.push(r("data+bss", img.rodata_end, img.image_end, MapAttrs::DATA));
    p.push(r("page pool", l.pool_off, l.pool_off + POOL_PAGES * PAGE_SIZE, MapAttrs::DATA));
    for cpu in 0..MAX_CPUS {
        let slot = l.stacks_off + cpu as u64 * STACK_SLOT;
        p.push(r("stack", slot + GUARD_SIZE, slot + STACK_SLOT, MapAttrs::DATA));
    }
    let vas = device_vas(devices);
    for (d, va) in devices.iter().zip(vas.iter()) {
        if let Some(va) = va {
            let start = align_down(d.pa, PAGE_SIZE);
            let len = align_up(d.pa + d.size, PAGE_SIZE) - start;
            p.push(Region {
                name: d.name,
                va: VirtAddr(va.0 & !(PAGE_SIZE as u32 - 1)),
                pa: PhysAddr(start),
                size: len,
                attrs: MapAttrs::DEVICE,
            });
        }
    }
    let init = region.add(img.init_page);
    p.push(trampoline(init));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn image() -> ImageLayout {
        ImageLayout { text_end: 0x10000, rodata_end: 0x18000, image_end: 0x20000, init_page: 0x1000 }
    }

    #[test]
    fn layout_fits_and_stacks_are_slot_aligned() {
        let l = ReservedLayout::new(image()).unwrap();
        assert!(l.end_off <= RESERVED_SIZE);
        assert_eq!(l.stacks_off % STACK_SLOT, 0);
        assert_eq!((RUNTIME_VA as u64 + l.stacks_off) % STACK_SLOT, 0);
        for cpu in 0..MAX_CPUS {
            let g = l.guard_page(cpu).0;
            assert_eq!(g & GUARD_TEST_MASK, 0, "guard page detected by TST");
            assert_ne!(l.stack_top(cpu).0 & GUARD_TEST_MASK, 0, "empty stack not taken for overflow");
            assert_ne!((g + GUARD_SIZE as u32) & GUARD_TEST_MASK, 0, "lowest stack byte is not guard");
        }
    }

    #[test]
    fn too_big_image_is_refused() {
        let mut i = image();
        i.image_end = 0x1F0000;
        assert!(matches!(ReservedLayout::new(i), Err(LayoutError::TooBig { .. })));
    }

    #[test]
    fn region_is_top_of_bank_below_window() {
        let qemu_128m = MemRange { base: 0x4000_0000, size: 128 << 20 };
        assert_eq!(choose_reserved_region(qemu_128m, &[]), Ok(PhysAddr(0x47E0_0000)));
        let qemu_2g = MemRange { base: 0x4000_0000, size: 2 << 30 };
        assert_eq!(choose_reserved_region(qemu_2g, &[]), Ok(PhysAddr(0xBFE0_0000)));
        let qemu_4g = MemRange { base: 0x4000_0000, size: 4 << 30 };
        assert_eq!(choose_reserved_region(qemu_4g, &[]), Ok(PhysAddr(0xBFE0_0000)));
        let board = MemRange { base: 0x8000_0000, size: 2 << 30 };
        assert_eq!(choose_reserved_region(board, &[]), Ok(PhysAddr(0xBFE0_0000)));
    }

    #[test]
    fn region_avoids_image_and_dtb() {
        let bank = MemRange { base: 0x4000_0000, size: 128 << 20 };
        let dtb = MemRange { base: 0x47F0_0000, size: 0x10_0000 };
        let img = MemRange { base: 0x47C0_0000, size: 0x4_0000 };
        assert_eq!(choose_reserved_region(bank, &[dtb, img]), Ok(PhysAddr(0x47A0_0000)));
    }

    #[test]
    fn no_region_when_bank_is_above_window_or_tiny() {
        assert_eq!(
            choose_reserved_region(MemRange { base: 0xC000_0000, size: 1 << 30 }, &[]),
            Err(LayoutError::NoRegion)
        );
        assert_eq!(
            choose_reserved_region(MemRange { base: 0x4000_0000, size: 1 << 20 }, &[]),
            Err(LayoutError::NoRegion)
        );
    }

    #[test]
    fn identity_collisions_are_named() {
        assert!(check_identity_collision(PhysAddr(0xBFE0_1000)).is_ok());
        assert!(matches!(
            check_identity_collision(PhysAddr(0xC800_1000)),
            Err(LayoutError::IdentityCollision { with: "runtime VA window 0xc0000000-0xffffffff", .. })
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
    use crate::mm::cache::Recorder;
    use crate::mm::pgtable::testmem::{Pool, SimMem};
    use crate::mm::pgtable::{TableBuilder, translate};
    use proptest::prelude::*;

    fn build(plan: &Plan, pool: &mut Pool, mem: &mut SimMem) -> PhysAddr {
        let mut rec = Recorder::default();
        let mut b = TableBuilder::new(pool, mem, &mut rec).unwrap();
        for r in plan.iter() {
            b.map(r.va, r.pa, r.size, r.attrs).unwrap_or_else(|e| panic!("{}: {e}", r.name));
        }
        b.publish()
    }

    fn arb_image() -> impl Strategy<Value = ImageLayout> {
        (1u64..40, 1u64..30, 1u64..30, 0u64..8).prop_map(|(t, r, d, i)| ImageLayout {
            text_end: (t + i + 1) * PAGE_SIZE,
            rodata_end: (t + i + 1 + r) * PAGE_SIZE,
            image_end: (t + i + 1 + r + d) * PAGE_SIZE,
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
        fn boot_and_runtime_tables(image in arb_image(), bank_mib in 16u64..3072, base_sel in 0usize..3,
                                   devices in arb_devices()) {
            let base = [0x4000_0000u64, 0x8000_0000, 0x2000_0000][base_sel];
            let l = ReservedLayout::new(image).unwrap();
            let Ok(region) = choose_reserved_region(MemRange { base, size: bank_mib << 20 }, &[]) else {
                prop_assume!(false);
                unreachable!()
            };
            let mut mem = SimMem::default();
            let mut pool = Pool::new(0x1_0000_0000, 64);
            let boot = build(&boot_plan(region, &l), &mut pool, &mut mem);
            let rplan = runtime_plan(region, &l, &devices);
            let rt = build(&rplan, &mut pool, &mut mem);

            // Every requested range is mapped with the requested attributes, page by page.
            for r in rplan.iter() {
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
            let init = region.add(l.image.init_page);
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
            // Guard pages are never mapped; the stack right above them is.
            for cpu in 0..MAX_CPUS {
                prop_assert!(translate(&mem, rt, l.guard_page(cpu)).is_none());
                prop_assert!(translate(&mem, rt, VirtAddr(l.stack_top(cpu).0 - 4)).is_some());
            }
        }
    }
}
