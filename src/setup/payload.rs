//! Boot phase, continued: the payload. Finds the pack after the image, places the payload, its
//! initrd and its device tree in RAM, writes the device tree the payload gets, and builds the
//! stage-2 tables that confine it. Runs with the MMU off, so physical addresses are pointers.

use super::relocate::{self, Image};
use super::tables::{PhysTables, Pool};
use crate::arch::cache::{self, ArmCache};
use crate::arch::{self, mem};
use crate::shared::{FwCfgInfo, PayloadInfo, ReleaseInfo};
use crate::{detail, fatal, log};
use hypfw_core::abi::bits::Hsctlr as HsctlrBits;
use hypfw_core::abi::reloc;
use hypfw_core::mm::addr::{PAGE_SIZE, PhysAddr, VirtAddr, align_down, align_up};
use hypfw_core::mm::cache::CacheMaintenance;
use hypfw_core::mm::coherency;
use hypfw_core::mm::layout::{MemRange, RUNTIME_VA, ReservedLayout};
use hypfw_core::mm::pgtable::{MapError, Regime, TableBuilder, VTCR_40BIT, vttbr};
use hypfw_core::mm::stage2;
use hypfw_core::mm::window;
use hypfw_core::payload::pack::{self, Kind, Pack};
use hypfw_core::payload::{placement, rewrite};
use hypfw_core::platform::dtb::{Platform, PsciMethod};
use hypfw_core::services::release;

/// VMID of the payload.
pub const PAYLOAD_VMID: u8 = 1;

/// The pack right after the loaded image, if there is one; a damaged one stops hypfw.
/// `file_size` is the size the zImage header gives for the whole file: larger than the image
/// means a pack must follow, so a missing pack header is damage too, not "no payload".
pub fn find_pack(load: usize, image_end: u64, file_size: u64) -> Option<Pack<'static>> {
    // A file that ends with the image (hypfw-bare.bin, or an ELF boot, whose header says 0) has
    // no pack: what lies after it is not the file's (a pack left in RAM by an earlier boot of
    // the packed image, or no RAM at all where the image ends at the end of RAM).
    if file_size <= image_end {
        return None;
    }
    let at = load + image_end as usize;
    // SAFETY: the bootloader loaded the whole file (zImage header size) from `load`, MMU off; the
    // header is read first, and only `total_len` bytes once its checksum is checked. Nothing writes the
    // loaded file during the boot phase (every placement avoids it).
    let header = unsafe { core::slice::from_raw_parts(at as *const u8, pack::HEADER_LEN) };
    let total = match pack::total_len(header) {
        Ok(t) => t,
        Err(pack::PackError::Absent) => fatal!(
            "payload pack at {at:#x}: the image file is {file_size} bytes (zImage header) and hypfw {image_end}, so a \
             pack must follow, but there is no pack header there: the file is damaged"
        ),
        Err(e) => fatal!("payload pack at {at:#x}: {e}"),
    };
    // SAFETY: the `total` bytes the checksum-checked header gives, within the file the bootloader
    // loaded (MMU off); nothing writes them during the boot phase.
    let bytes = unsafe { core::slice::from_raw_parts(at as *const u8, total) };
    // The payload's and initrd's sums are checked on the copies (`prepare`), in the same pass.
    match pack::parse_deferred(bytes) {
        Ok(p) => Some(p),
        Err(e) => fatal!("payload pack at {at:#x}: {e}"),
    }
}

/// Stage-2 holes besides hypfw's own region: the GIC virtual interface control block, QEMU's
/// fw_cfg (its DMA register would let the payload's requests write anywhere, stage 2 or not; the
/// DMA register shares a page with the selector and data registers, so the whole page is left out
/// and the runtime carries out the accesses to those two: `hypfw_core::services::fwcfg`), and the
/// page of the SoC's CPU release registers (`hypfw_core::services::release`).
pub fn device_holes(p: &Platform) -> [MemRange; 3] {
    let gich =
        p.gic.and_then(|g| g.hyp).map_or(MemRange::default(), |(b, s)| MemRange { base: b, size: s.max(PAGE_SIZE) });
    let fw_cfg = p.fw_cfg.map_or(MemRange::default(), |(b, s)| {
        let start = align_down(b, PAGE_SIZE);
        MemRange { base: start, size: align_up(b + s.max(1), PAGE_SIZE) - start }
    });
    let release = p.cpu_release.map_or(MemRange::default(), |r| release::page(&r));
    [gich, fw_cfg, release]
}

/// Stage-2 holes: hypfw's region, then [`device_holes`].
pub fn holes(p: &Platform, region: MemRange) -> [MemRange; 4] {
    let [gich, fw_cfg, release] = device_holes(p);
    [region, gich, fw_cfg, release]
}

/// Place the payload, write its device tree and build its stage-2 tables. With `image`, the
/// resident copy of hypfw's image (`relocate::copy`) is made at the start of `region` in the same
/// cached window as the payload's copy.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    p: &Platform,
    pk: &Pack,
    region: MemRange,
    busy: &[MemRange],
    dtb_src: Option<&[u8]>,
    psci: rewrite::PsciNode,
    image: Option<(&Image, &ReservedLayout)>,
    pool: &mut Pool,
) -> PayloadInfo {
    let Some(dtb_src) = dtb_src else { fatal!("a payload needs a device tree, and none was passed (r2 = 0)") };
    let Some(&bank) = p.ram().first() else { fatal!("no RAM") };
    let initrd_len = pk.initrd.map_or(0, |i| i.len() as u64);
    let place = placement::place(bank, region, busy, pk.kind, pk.payload.len() as u64, initrd_len)
        .unwrap_or_else(|e| fatal!("placing the payload: {e}"));
    let mut cache = ArmCache;
    let line = cache::dcache_line();
    let image_dst =
        image.map_or(MemRange::default(), |(_, l)| MemRange { base: region.base, size: l.image.resident_len() });
    let window = window_table(p, pk, &place, region, busy, image_dst, pool);
    // The bulk work: the copies with their sums, and the payload's own relocation. Failures are
    // reported after the window has closed (MMU off again).
    let work = || {
        let hsctlr = arch::regs::read::<arch::regs::Hsctlr>();
        // SAFETY: one CPU; physical addresses are pointers (MMU off, or the window's identity map,
        // which maps these ranges read/write); the placement checked that the destinations are
        // RAM, outside hypfw's region, and clear of everything still in use (the loaded file, the
        // DTB), and the sources are the pack's checked slices. hypfw's region is RAM that nothing
        // else uses yet, and the window maps the image and the copy's pages.
        unsafe {
            let copied = image.map(|(img, l)| relocate::copy(img, PhysAddr(region.base), l));
            let ks = mem::copy_sum(place.kernel.base as usize as *mut u8, pk.payload.as_ptr(), pk.payload.len());
            let is = match (pk.initrd, place.initrd) {
                (Some(src), Some(dst)) => Some(mem::copy_sum(dst.base as usize as *mut u8, src.as_ptr(), src.len())),
                _ => None,
            };
            let relocated = match (pk.kind, pk.relocs) {
                (Kind::Relocatable { link_addr, .. }, Some(table)) => {
                    let bias = (place.kernel.base as u32).wrapping_sub(link_addr);
                    // The payload was just copied there and nothing else uses that memory yet.
                    let copy = core::slice::from_raw_parts_mut(place.kernel.base as usize as *mut u8, pk.payload.len());
                    Some((link_addr, reloc::apply_le(copy, table, bias)))
                }
                _ => None,
            };
            (hsctlr, ks, is, relocated, copied)
        }
    };
    let (_, ks, is, relocated, copied) = match window {
        Ok((root, pages)) => {
            let vectors = arch::regs::read::<arch::regs::Hvbar>();
            // SAFETY: the window's vectors are in the image's code, which its map keeps
            // executable at the same address; the previous value is restored after it.
            unsafe { arch::regs::write::<arch::regs::Hvbar>(&raw const hypfw_window_vectors as u32) };
            let r = window::run(&mut cache, root, work);
            // SAFETY: the value the bootloader left, as before the window.
            unsafe { arch::regs::write::<arch::regs::Hvbar>(vectors) };
            // What the copy ran with, read inside the window: a window that did not turn them
            // on is a bug to stop on, not a slow boot to live with.
            let on = (HsctlrBits::M | HsctlrBits::C | HsctlrBits::I).bits();
            if r.0 & on != on {
                fatal!("payload: the cached window ran with HSCTLR {:#x}: the MMU or a cache was off", r.0);
            }
            detail!(
                "payload: copied with the MMU and caches on (HSCTLR {:#x}; window map of {pages} table pages at {root})",
                r.0
            );
            r
        }
        Err(e) => {
            log!("payload: copied with the caches off: no cached window ({e})");
            work()
        }
    };
    if let Some(r) = copied {
        if let Err(e) = r {
            fatal!("relocating the runtime copy: {e}");
        }
        if window.is_err() {
            // As relocate::copy_uncached: written with the MMU off, run through the runtime's
            // cacheable mappings.
            coherency::code_written_uncached(&mut cache, region.base, image_dst.size, line);
        }
        detail!(
            "relocation: image copied to {:#x} and relocated for HYP VA {RUNTIME_VA:#010x}, {}",
            region.base,
            if window.is_ok() { "in the payload's cached window" } else { "with the caches off" }
        );
    }
    pack::check_copied("payload", ks, pk.payload_sum)
        .unwrap_or_else(|e| fatal!("payload pack (payload at {:#x}): {e}", pk.payload.as_ptr() as usize));
    if let (Some(s), Some(src)) = (is, pk.initrd) {
        pack::check_copied("initrd", s, pk.initrd_sum)
            .unwrap_or_else(|e| fatal!("payload pack (initrd at {:#x}): {e}", src.as_ptr() as usize));
    }
    if let Some((link_addr, r)) = relocated {
        let n = r.unwrap_or_else(|e| fatal!("relocating the payload: {e}"));
        detail!("payload: linked for {link_addr:#x}, relocated to {:#x} ({n} places)", place.kernel.base);
    }
    if window.is_err() {
        // Written with the MMU off; the payload may read and run them with its caches on. (The
        // window's close leaves no line in any cache and the I-cache invalidated: nothing to do.)
        coherency::code_written_uncached(&mut cache, place.kernel.base, pk.payload.len() as u64, line);
        if let Some(i) = place.initrd {
            coherency::written_uncached(&mut cache, i.base, i.size, line);
        }
    }
    let edits = rewrite::Edits { reserved: region, bootargs: pk.bootargs, initrd: place.initrd, psci };
    // SAFETY: MMU off, one CPU; the placement put the tree's room in RAM outside hypfw's region
    // and clear of everything in use (the loaded file, the firmware's tree it is made from).
    let room = unsafe { core::slice::from_raw_parts_mut(place.dtb.base as usize as *mut u8, place.dtb.size as usize) };
    let dtb_len = rewrite::rewrite(dtb_src, &edits, room).unwrap_or_else(|e| fatal!("rewriting the device tree: {e}"));
    coherency::written_uncached(&mut cache, place.dtb.base, dtb_len as u64, line);

    let holes = holes(p, region);
    let mut mem = PhysTables;
    let mut b = TableBuilder::with_regime(Regime::Stage2, pool, &mut mem, &mut cache)
        .unwrap_or_else(|e| fatal!("stage-2 tables: {e}"));
    stage2::map_identity(&mut b, p.ram(), &holes).unwrap_or_else(|e| fatal!("stage-2 tables: {e}"));
    let root: PhysAddr = b.publish();
    cache.dsb();

    let kind = match pk.kind {
        Kind::ZImage => "zImage",
        Kind::Raw { .. } => "raw image",
        Kind::Relocatable { .. } => "relocatable image",
    };
    log!(
        "payload: {kind} of {} bytes at {:#x} (entry {:#x}), device tree at {:#x} ({} bytes){}",
        pk.payload.len(),
        place.kernel.base,
        place.entry,
        place.dtb.base,
        dtb_len,
        match psci {
            rewrite::PsciNode::Keep => "",
            rewrite::PsciNode::Provide { method: PsciMethod::Smc, .. } => ", hypfw provides PSCI by SMC",
            rewrite::PsciNode::Provide { starts_cpus: true, .. } => ", hypfw provides PSCI by HVC",
            rewrite::PsciNode::Provide { starts_cpus: false, .. } => ", hypfw provides PSCI by HVC (no CPU_ON)",
        }
    );
    if let Some(i) = place.initrd {
        detail!("payload: initrd of {} bytes at {:#x}..{:#x}", i.size, i.base, i.end());
    }
    if let Some(a) = pk.bootargs {
        detail!("payload: command line \"{a}\"");
    }
    if holes[1].size > 0 {
        detail!(
            "stage 2: IPA space 40 bits identity mapped, holes at {:#x}..{:#x} (hypfw) and {:#x}..{:#x} (GICH); root {root}, VTCR {VTCR_40BIT:#x}",
            holes[0].base,
            holes[0].end(),
            holes[1].base,
            holes[1].end()
        );
    } else {
        // GICv3 (its virtual interface is system registers, HYP's alone), or a GICv2 tree that
        // names no GICH: there is no MMIO frame to leave out.
        detail!(
            "stage 2: IPA space 40 bits identity mapped, a hole at {:#x}..{:#x} (hypfw; the tree names no GICH frame); root {root}, VTCR {VTCR_40BIT:#x}",
            holes[0].base,
            holes[0].end()
        );
    }
    PayloadInfo {
        entry: place.entry as u32,
        dtb: place.dtb.base as u32,
        vttbr: vttbr(root, PAYLOAD_VMID),
        holes,
        fw_cfg: None,
        cpu_release: None,
    }
}

unsafe extern "C" {
    /// The vectors while the window is open (boot/entry.S).
    static hypfw_window_vectors: u8;
}

/// An exception inside the cached window, after `hypfw_window_vectors` closed it (MMU off again).
#[unsafe(no_mangle)]
extern "C" fn hypfw_window_fault(hsr: u32, elr: u32, hdfar: u32) -> ! {
    fatal!("exception in the boot phase's cached window: HSR {hsr:#x} at {elr:#x} (HDFAR {hdfar:#x})")
}

/// The cached window's identity map (`hypfw_core::mm::window`), built with the MMU off in the
/// scratch pages of the region (nothing is built there yet); returns its root and page count.
fn window_table(
    p: &Platform,
    pk: &Pack,
    place: &placement::Placement,
    region: MemRange,
    busy: &[MemRange],
    image_dst: MemRange,
    pool: &Pool,
) -> Result<(PhysAddr, u64), window::WindowError> {
    let image = super::relocate::Image::this();
    let text = MemRange { base: image.start as u64, size: image.layout.text_end };
    let loaded = busy[0];
    let data = [
        // The rest of the loaded file: rodata, data, bss, the boot stack, the pack.
        MemRange { base: text.end(), size: loaded.end() - text.end() },
        MemRange { base: place.kernel.base, size: pk.payload.len() as u64 },
        place.initrd.unwrap_or_default(),
        // hypfw's resident copy, when it is made in the window.
        image_dst,
    ];
    let console = p.console.map_or(MemRange::default(), |c| MemRange { base: c.base, size: c.size.max(1) });
    let mut avoid = [MemRange::default(); super::BUSY + 1];
    let n = busy.len().min(super::BUSY);
    avoid[..n].copy_from_slice(&busy[..n]);
    avoid[n] = region;
    let plan = window::plan(text, &data, &[console], p.ram(), &avoid[..=n])?;
    let mut scratch = pool.scratch().ok_or(window::WindowError::NoPages)?;
    let mut mem = PhysTables;
    let mut cache = ArmCache;
    let mut b = TableBuilder::new(&mut scratch, &mut mem, &mut cache).map_err(|_| window::WindowError::NoPages)?;
    for (r, a) in plan.iter() {
        b.map(VirtAddr(r.base as u32), PhysAddr(r.base), r.size, *a).map_err(|e| match e {
            MapError::OutOfTables => window::WindowError::NoPages,
            _ => window::WindowError::Refused(*r),
        })?;
    }
    let root = b.publish();
    Ok((root, scratch.pages_used()))
}

/// QEMU's fw_cfg for the runtime, when the platform has one: its registers, their VA in the
/// runtime table (`va`, from the device list), and the stage-2 hole `prepare` left around them.
pub fn fw_cfg(p: &Platform, info: &PayloadInfo, va: Option<VirtAddr>) -> Option<FwCfgInfo> {
    let page = info.holes[2];
    match (p.fw_cfg, va) {
        (Some((base, _)), Some(va)) => {
            log!(
                "stage 2: fw_cfg at {base:#x} left out with its page {:#x}..{:#x}: hypfw carries out the payload's \
                 selector and data accesses, hides the DMA feature, and refuses DMA requests",
                page.base,
                page.end()
            );
            Some(FwCfgInfo { base, va: va.0, page })
        }
        (Some((base, _)), None) => fatal!("fw_cfg at {base:#x}: no room for it in the runtime's device window"),
        (None, _) => None,
    }
}

/// The CPU release block for the runtime, when hypfw knows the SoC's: its page is a stage-2
/// hole (`device_holes`), mapped at `va` in the runtime table.
pub fn cpu_release(p: &Platform, va: Option<VirtAddr>) -> Option<ReleaseInfo> {
    let block = p.cpu_release?;
    let Some(va) = va else { fatal!("{}: no room in the runtime's device window", block.kind.name()) };
    log!(
        "stage 2: {} at {:#x}..{:#x}: writes refused (a CPU started so would escape stage 2), the rest of its \
         page carried out",
        block.kind.name(),
        block.base,
        block.base + block.size
    );
    if block.size2 != 0 {
        log!("stage 2: and at {:#x}..{:#x}", block.base2, block.base2 + block.size2);
    }
    Some(ReleaseInfo { block, va: va.0 })
}
