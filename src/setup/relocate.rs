//! The image and its resident copy: the section layout from the linker's symbols, the reserved
//! region at the top of the first RAM bank, and the copy relocated for the runtime VA.

use crate::arch::cache::{self, ArmCache};
use crate::arch::mem;
use crate::fatal;
use hypfw_core::abi::reloc::{self, RelocError};
use hypfw_core::mm::addr::{PAGE_SIZE, PhysAddr, align_up};
use hypfw_core::mm::coherency;
use hypfw_core::mm::layout::{ImageLayout, RUNTIME_VA, ReservedLayout};

unsafe extern "C" {
    static __image_start: u8;
    static __resident_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __data_end: u8;
    static __bss_start: u8;
    static __bss_end: u8;
    static __image_end: u8;
    static __init_page_start: u8;
    static __relocs_start: u32;
    static __relocs_end: u8;
}

fn addr_of<T>(r: &T) -> usize {
    r as *const T as usize
}

/// This image as loaded: where it starts and how its sections lie.
#[derive(Clone, Copy)]
pub struct Image {
    pub start: usize,
    pub layout: ImageLayout,
}

impl Image {
    pub fn this() -> Self {
        // SAFETY: linker symbols: only their addresses are taken, never their contents.
        unsafe {
            let s = addr_of(&__image_start);
            Image {
                start: s,
                layout: ImageLayout {
                    resident_start: (addr_of(&__resident_start) - s) as u64,
                    text_end: (addr_of(&__text_end) - s) as u64,
                    rodata_end: (addr_of(&__rodata_end) - s) as u64,
                    // The copy ends at the page boundary after .bss.
                    resident_end: align_up((addr_of(&__bss_end) - s) as u64, PAGE_SIZE),
                    image_end: (addr_of(&__image_end) - s) as u64,
                    init_page: (addr_of(&__init_page_start) - s) as u64,
                },
            }
        }
    }
}

/// The resident copy of the image in the reserved region: where a symbol of this (loaded) image
/// lies in the copy, by physical address and by runtime VA.
#[derive(Clone, Copy)]
pub struct Copy {
    pub image_start: usize,
    /// Where the copy starts in this image: the text below only the boot phase runs.
    pub resident_start: usize,
    pub region: PhysAddr,
}

impl Copy {
    /// Where the resident copy of `img` lies in `region` (the copy itself is made by [`copy`]).
    pub fn new(img: &Image, region: PhysAddr) -> Self {
        Copy { image_start: img.start, resident_start: img.start + img.layout.resident_start as usize, region }
    }
    /// The physical address in the copy of the symbol at `sym` in this image.
    pub fn pa(&self, sym: usize) -> usize {
        self.region.0 as usize + (sym - self.resident_start)
    }
    /// The runtime VA of the symbol at `sym` in this image.
    pub fn va(&self, sym: usize) -> u32 {
        (RUNTIME_VA as usize + (sym - self.image_start)) as u32
    }
}

/// Copy the resident part of the image (from the init page to .data) into the region, zero the
/// copy's .bss up to the end of its page, and relocate the copy for the runtime VA. What only the
/// boot phase uses is not copied: the entry code and the boot phase's own text before the init
/// page (`cargo xtask build` checks that nothing resident refers to it), and the relocation table
/// and the boot stack after .bss. No cache maintenance: the caller makes the copy visible, by
/// [`copy_uncached`]'s maintenance, or by closing the cached window it ran in.
///
/// # Safety
/// 1. `region` is RAM of at least `layout.size()` bytes that nothing else uses;
/// 2. physical addresses are pointers (the MMU is off, or on with an identity map of the image
///    and of the copy's pages, read/write), and only this CPU runs.
pub unsafe fn copy(img: &Image, region: PhysAddr, layout: &ReservedLayout) -> Result<(), RelocError> {
    // SAFETY: the linker symbols bound this image's own bytes; obligation 1 makes the
    // destination RAM of the image's size that nothing else reads or writes; obligation 2 makes
    // the region's physical address a valid pointer, and the region is page aligned (so the
    // copy is word aligned as a `[u32]`). The relocation table lies in the boot-only text.
    unsafe {
        let from = layout.image.resident_start as usize;
        let data_len = addr_of(&__data_end) - img.start - from;
        let bss_off = addr_of(&__bss_start) - img.start - from;
        let resident = layout.image.resident_len() as usize;
        let dst = region.0 as usize as *mut u8;
        mem::copy(dst, (img.start + from) as *const u8, data_len);
        mem::zero(dst.add(bss_off), resident - bss_off);
        let words = core::slice::from_raw_parts(
            &raw const __relocs_start,
            (addr_of(&__relocs_end) - addr_of(&__relocs_start)) / 4,
        );
        // The region is page aligned, so the copy can be patched a word at a time.
        let copy = core::slice::from_raw_parts_mut(dst as *mut u32, resident / 4);
        let bias = RUNTIME_VA.wrapping_sub(img.start as u32);
        let from = from as u32;
        reloc::parse(words).and_then(|t| reloc::apply_words(copy, from, &t.from_offset(from), bias)).map(|_| ())
    }
}

/// [`copy`] with the MMU off, then the maintenance that makes the new code visible to the
/// runtime's cacheable mappings and to instruction fetch; a relocation error stops hypfw.
///
/// # Safety
/// 1. as [`copy`]'s first obligation;
/// 2. the MMU is off (physical addresses are pointers) and only this CPU runs.
pub unsafe fn copy_uncached(img: &Image, region: PhysAddr, layout: &ReservedLayout) -> Copy {
    assert!(region.0.is_multiple_of(4096), "the reserved region is page aligned");
    // SAFETY: obligations 1 and 2 are copy()'s (the MMU off satisfies its second).
    if let Err(e) = unsafe { copy(img, region, layout) } {
        fatal!("relocating the runtime copy: {e}");
    }
    // Written with the MMU off, run (and read) through the runtime's cacheable mappings.
    coherency::code_written_uncached(&mut ArmCache, region.0, layout.image.resident_len(), cache::dcache_line());
    Copy::new(img, region)
}
