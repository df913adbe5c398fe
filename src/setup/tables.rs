//! The page tables the boot CPU builds with the MMU off: the boot and runtime HYP tables (and the
//! payload's stage 2, in `setup::payload`), from the page pool in the reserved region.

use crate::arch::cache::ArmCache;
use crate::arch::mem;
use crate::{detail, fatal};
use hypfw_core::mm::addr::{PAGE_SIZE, PhysAddr};
use hypfw_core::mm::audit;
use hypfw_core::mm::cache::CacheMaintenance;
use hypfw_core::mm::frame::PagePool;
use hypfw_core::mm::layout::{self, Device, MemRange, Plan, Region, Regions, ReservedLayout};
use hypfw_core::mm::pgtable::{FrameAllocator, MapAttrs, MemType, TableBuilder, TableMemory};
use hypfw_core::platform::dtb::Platform;

/// The page pool in the reserved region, handed out with the MMU off (PA = pointer): the tested
/// allocator, with each page zeroed as it is handed out. The second allocator is the scratch
/// view of the same memory (`scratch`).
pub struct Pool(PagePool, PagePool);

impl Pool {
    pub fn new(region: PhysAddr, l: &ReservedLayout) -> Self {
        let start = region.0 + l.pool_off;
        Pool(PagePool::new(start, l.pool_pages), PagePool::new(start, (l.size() - l.pool_off) / PAGE_SIZE))
    }
    pub fn pages_used(&self) -> u64 {
        self.0.pages_used()
    }
    /// Pages for a table used only until the next allocation from this pool: the whole region
    /// after the image (the pool, then the stacks, which are painted later). None once this pool
    /// has handed out a page. The pool zeroes a page again when it hands it out.
    pub fn scratch(&self) -> Option<Pool> {
        (self.0.pages_used() == 0).then_some(Pool(self.1, self.1))
    }
}

impl FrameAllocator for Pool {
    fn alloc_zeroed_page(&mut self) -> Option<PhysAddr> {
        self.alloc_zeroed_pages(1)
    }
    fn alloc_zeroed_pages(&mut self, pages: u64) -> Option<PhysAddr> {
        let p = self.0.take(pages)?;
        // SAFETY: the pool lies in the reserved region, which only the boot CPU uses now (MMU off,
        // PA = pointer); `take` handed these pages out once and never again.
        unsafe { mem::zero(p.0 as usize as *mut u8, (pages * PAGE_SIZE) as usize) };
        Some(p)
    }
    fn alloc_root_page(&mut self, entries: usize) -> Option<PhysAddr> {
        let len = entries.min(512) * 8;
        let p = self.0.take_small(len as u64)?;
        // SAFETY: as in alloc_zeroed_pages: `take_small` handed out these `len` bytes once and
        // never again (the rest of their page is other roots', or nobody's).
        unsafe { mem::zero(p.0 as usize as *mut u8, len) };
        Some(p)
    }
}

/// Table memory with the MMU off: physical addresses are pointers.
pub struct PhysTables;

impl TableMemory for PhysTables {
    fn read_desc(&self, table: PhysAddr, index: usize) -> u64 {
        // SAFETY: tables come from the pool (MMU off, PA = pointer) and the builder keeps
        // index < 512 (asserted by its host tests), so the read stays in the table page.
        unsafe { core::ptr::read_volatile((table.0 as usize as *const u64).add(index)) }
    }
    fn write_desc(&mut self, table: PhysAddr, index: usize, value: u64) {
        // SAFETY: tables come from the pool (MMU off, PA = pointer), index < 512, and only the
        // boot CPU writes them. One 64-bit store (STRD): a walker never sees half a descriptor.
        unsafe { core::ptr::write_volatile((table.0 as usize as *mut u64).add(index), value) }
    }
}

/// Name of QEMU's fw_cfg among the devices (mapped only for a payload, whose accesses to its
/// registers the runtime carries out: `runtime::fwcfg`).
pub const FW_CFG: &str = "fw_cfg";
/// Name of the CPU release block's page among the devices (mapped only for a payload:
/// `runtime::release`).
pub const CPU_RELEASE: &str = "CPU release";

/// The devices the runtime maps: the console, the GIC's parts, and (`payload`) fw_cfg and the CPU
/// release block's page, in that order.
pub fn devices(p: &Platform, payload: bool) -> ([Device; layout::MAX_DEVICES], usize) {
    let mut devices = [Device { name: "", pa: 0, size: 0 }; layout::MAX_DEVICES];
    let mut n = 0;
    let mut add = |name, r: Option<(u64, u64)>| {
        // Past MAX_DEVICES a device gets no VA, which its user reports (`setup::payload`).
        if let Some((pa, size)) = r
            && n < devices.len()
        {
            devices[n] = Device { name, pa, size: size.max(0x1000) };
            n += 1;
        }
    };
    add("console", p.console.map(|c| (c.base, c.size)));
    if let Some(g) = p.gic {
        add("GIC distributor", Some(g.dist));
        add("GIC CPU interface", Some(g.cpu));
        add("GIC virtual interface control", g.hyp);
        add("GIC virtual CPU interface", g.vcpu);
    }
    if payload {
        add(FW_CFG, p.fw_cfg);
        add(CPU_RELEASE, p.cpu_release.map(|r| hypfw_core::services::release::page(&r)).map(|g| (g.base, g.size)));
    }
    (devices, n)
}

/// Build one table from a plan, straight into the pool's pages; returns its root and how many
/// leaf descriptors the builder wrote.
pub fn build<C: CacheMaintenance>(plan: &Plan, pool: &mut Pool, cache: &mut C) -> (PhysAddr, usize) {
    let mut mem = PhysTables;
    let mut b = TableBuilder::new(pool, &mut mem, cache).unwrap_or_else(|e| fatal!("page tables: {e}"));
    plan.each(&mut |r: &Region| {
        b.map(r.va, r.pa, r.size, r.attrs).unwrap_or_else(|e| fatal!("page tables: {}: {e}", r.name));
        true
    });
    let leaves = b.leaves();
    (b.publish(), leaves)
}

/// The boot and runtime tables of the region, the runtime one audited; returns (boot root,
/// runtime root). Each runtime mapping is listed with `verbose` (`hypfw.verbose`).
pub fn build_hyp(
    region: PhysAddr,
    l: &ReservedLayout,
    devices: &[Device],
    ram: &[MemRange],
    pool: &mut Pool,
    verbose: bool,
) -> (PhysAddr, PhysAddr) {
    let mut cache = ArmCache;
    let (boot_pgd, _) = build(&layout::boot_plan(region, l), pool, &mut cache);
    let runtime_plan = layout::runtime_plan(region, l, devices);
    let (runtime_pgd, leaves_written) = build(&runtime_plan, pool, &mut cache);
    detail!(
        "page tables: boot pgd at {} (init page {} at identity and at {:#010x}), runtime pgd at {} ({} of {} pool pages)",
        boot_pgd,
        region.add(l.init_page_off()),
        layout::TRAMPOLINE_VA,
        runtime_pgd,
        pool.pages_used(),
        l.pool_pages
    );
    if verbose {
        runtime_plan.each(&mut |r: &Region| {
            detail!(
                "  runtime map {:<30} VA {}..{:#010x} -> PA {} {}",
                r.name,
                r.va,
                r.va.0 as u64 + r.size,
                r.pa,
                attrs_name(r.attrs)
            );
            true
        });
    }
    let expected = audit::Expected { region, layout: l, init_page: region.add(l.init_page_off()), ram, leaves_written };
    match audit::runtime_table(&PhysTables, runtime_pgd, &runtime_plan, &expected) {
        Ok(n) => detail!(
            "page tables: runtime table audited ({n} mappings): as planned, W^X, {} stack guards unmapped, no \
             identity map, no payload RAM",
            layout::MAX_CPUS
        ),
        Err(e) => fatal!("page tables: the runtime table fails its audit: {e}"),
    }
    (boot_pgd, runtime_pgd)
}

fn attrs_name(a: MapAttrs) -> &'static str {
    match (a.mem, a.writable, a.executable) {
        (MemType::Device, _, _) => "device RW XN",
        (_, false, true) => "RX",
        (_, false, false) => "R XN",
        (_, true, false) => "RW XN",
        (_, true, true) => "RWX",
    }
}
