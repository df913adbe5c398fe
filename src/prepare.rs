//! Boot phase, continued: the payload. Finds the pack after the image, places the payload, its
//! initrd and its device tree in RAM, writes the device tree the payload gets, and builds the
//! stage-2 tables that confine it. Runs with the MMU off, so physical addresses are pointers.

use crate::arch::cache::ArmCache;
use crate::runtime::init::PayloadInfo;
use crate::{fatal, log};
use hypfw::addr::{PAGE_SIZE, PhysAddr};
use hypfw::cache::{CacheMaintenance, sync_code_range};
use hypfw::dtb::Platform;
use hypfw::handover;
use hypfw::layout::MemRange;
use hypfw::pack::{self, Kind, Pack};
use hypfw::pgtable::{FrameAllocator, Regime, TableBuilder, TableMemory, VTCR_40BIT, vttbr};

/// VMID of the payload.
pub const PAYLOAD_VMID: u8 = 1;

/// The pack right after the loaded image, if there is one; a damaged one stops hypfw.
/// `file_size` is the size the zImage header gives for the whole file: larger than the image
/// means a pack must follow, so a missing pack header is damage too, not "no payload".
pub fn find_pack(load: usize, image_end: u64, file_size: u64) -> Option<Pack<'static>> {
    let at = load + image_end as usize;
    // SAFETY: the bootloader loaded the whole file (zImage header size) from `load`; the header
    // is read first and only `total_len` bytes after its CRC checked.
    let header = unsafe { core::slice::from_raw_parts(at as *const u8, pack::HEADER_LEN) };
    let total = match pack::total_len(header) {
        Ok(t) => t,
        Err(pack::PackError::Absent) if file_size > image_end => fatal!(
            "payload pack at {at:#x}: the image file is {file_size} bytes (zImage header) and hypfw {image_end}, so a \
             pack must follow, but there is no pack header there: the file is damaged"
        ),
        Err(pack::PackError::Absent) => return None,
        Err(e) => fatal!("payload pack at {at:#x}: {e}"),
    };
    // SAFETY: as above.
    let bytes = unsafe { core::slice::from_raw_parts(at as *const u8, total) };
    match pack::parse(bytes) {
        Ok(p) => Some(p),
        Err(e) => fatal!("payload pack at {at:#x}: {e}"),
    }
}

/// Stage-2 holes: hypfw's region, and the GIC virtual interface control block.
pub fn holes(p: &Platform, region: MemRange) -> [MemRange; 2] {
    let gich =
        p.gic.and_then(|g| g.hyp).map_or(MemRange::default(), |(b, s)| MemRange { base: b, size: s.max(PAGE_SIZE) });
    [region, gich]
}

#[allow(clippy::too_many_arguments)]
pub fn prepare<A: FrameAllocator, M: TableMemory>(
    p: &Platform,
    pk: &Pack,
    region: MemRange,
    busy: &[MemRange],
    dtb_src: Option<&[u8]>,
    provide_psci: bool,
    pool: &mut A,
    mem: &mut M,
) -> PayloadInfo {
    let Some(dtb_src) = dtb_src else { fatal!("a payload needs a device tree, and none was passed (r2 = 0)") };
    let Some(&bank) = p.ram().first() else { fatal!("no RAM") };
    let initrd_len = pk.initrd.map_or(0, |i| i.len() as u64);
    let place = handover::place(bank, region, busy, pk.kind, pk.payload.len() as u64, initrd_len)
        .unwrap_or_else(|e| fatal!("placing the payload: {e}"));
    let mut cache = ArmCache;
    let line = crate::arch::cache::dcache_line();
    // SAFETY: MMU off; the placement checked these ranges are RAM, free, and clear of everything
    // still in use.
    unsafe {
        core::ptr::copy_nonoverlapping(pk.payload.as_ptr(), place.kernel.base as usize as *mut u8, pk.payload.len());
        if let (Some(src), Some(dst)) = (pk.initrd, place.initrd) {
            core::ptr::copy_nonoverlapping(src.as_ptr(), dst.base as usize as *mut u8, src.len());
        }
    }
    sync_code_range(&mut cache, place.kernel.base, pk.payload.len() as u64, line);
    let edits =
        hypfw::dtb::rewrite::Edits { reserved: region, bootargs: pk.bootargs, initrd: place.initrd, provide_psci };
    let dtb =
        hypfw::dtb::rewrite::rewrite(dtb_src, &edits).unwrap_or_else(|e| fatal!("rewriting the device tree: {e}"));
    if dtb.len() as u64 > place.dtb.size {
        fatal!("the payload's device tree is {} bytes, more than the {} reserved for it", dtb.len(), place.dtb.size);
    }
    // SAFETY: as above.
    unsafe { core::ptr::copy_nonoverlapping(dtb.as_ptr(), place.dtb.base as usize as *mut u8, dtb.len()) };
    hypfw::cache::clean_range_to_poc(&mut cache, place.dtb.base, dtb.len() as u64, line);

    let holes = holes(p, region);
    let mut b = TableBuilder::with_regime(Regime::Stage2, pool, mem, &mut cache)
        .unwrap_or_else(|e| fatal!("stage-2 tables: {e}"));
    hypfw::stage2::map_identity(&mut b, p.ram(), &holes).unwrap_or_else(|e| fatal!("stage-2 tables: {e}"));
    let root: PhysAddr = b.publish();
    cache.dsb();

    let kind = match pk.kind {
        Kind::ZImage => "zImage",
        Kind::Raw { .. } => "raw image",
    };
    log!(
        "payload: {kind} of {} bytes at {:#x} (entry {:#x}), device tree at {:#x} ({} bytes){}",
        pk.payload.len(),
        place.kernel.base,
        place.entry,
        place.dtb.base,
        dtb.len(),
        if provide_psci { ", hypfw provides PSCI" } else { "" }
    );
    if let Some(i) = place.initrd {
        log!("payload: initrd of {} bytes at {:#x}..{:#x}", i.size, i.base, i.end());
    }
    if let Some(a) = pk.bootargs {
        log!("payload: command line \"{a}\"");
    }
    log!(
        "stage 2: IPA space 40 bits identity mapped, holes at {:#x}..{:#x} (hypfw) and {:#x}..{:#x} (GICH); root {root}, VTCR {VTCR_40BIT:#x}",
        holes[0].base,
        holes[0].end(),
        holes[1].base,
        holes[1].end()
    );
    PayloadInfo { entry: place.entry as u32, dtb: place.dtb.base as u32, vttbr: vttbr(root, PAYLOAD_VMID), holes }
}
