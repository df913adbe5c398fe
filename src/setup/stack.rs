//! The stacks' paint. The boot stack: the boot phase runs with the MMU off, so its stack has no
//! guard page; it is painted with a canary word below the frames in use, and the lowest words,
//! checked before the hand-over, turn an overflow into a `fatal:` line instead of silently
//! corrupted `.bss`; how far the paint was overwritten is its high-water mark. The runtime stacks
//! are painted here too, before any CPU runs on them; the runtime reports their marks.

use crate::arch::cache::{self, ArmCache};
use crate::arch::{self, mem};
use crate::drivers::console;
use crate::fatal;
use hypfw_core::abi::{BOOT_STACK_CANARY, BOOT_STACK_CANARY_WORDS, BOOT_STACK_SIZE};
use hypfw_core::mm::addr::PhysAddr;
use hypfw_core::mm::coherency;
use hypfw_core::mm::layout::{self, ReservedLayout};
use hypfw_core::platform::dtb::{Platform, UartKind};

unsafe extern "C" {
    /// The lowest words of the boot stack (boot/entry.S).
    static mut __boot_stack: [u32; BOOT_STACK_CANARY_WORDS];
}

fn canary_words() -> *mut u32 {
    &raw mut __boot_stack as *mut u32
}

/// Bytes below the current SP that `paint` leaves alone (this function's own frame and what a
/// call from it may push).
const PAINT_CLEARANCE: usize = 256;

/// Paint the boot stack with the canary word, from its bottom up to a little below the current
/// SP. Called first thing in the boot phase.
#[inline(never)]
pub fn paint() {
    let bottom = canary_words() as usize;
    let end = (arch::sp() - PAINT_CLEARANCE) & !31;
    if end <= bottom + BOOT_STACK_CANARY_WORDS * 4 {
        fatal!("the boot stack is already used down to its canary at entry");
    }
    // SAFETY: the boot stack below the frames in use (and below the clearance this call's own
    // frame needs), which entry.S reserved for this purpose; nothing else lives there.
    unsafe { mem::fill(bottom as *mut u8, end - bottom, BOOT_STACK_CANARY) };
}

/// Bytes of the boot stack used so far (its high-water mark): from the top down to the lowest
/// word that no longer holds the paint.
pub fn boot_high_water() -> u64 {
    // SAFETY: the boot stack's own words (entry.S reserved BOOT_STACK_SIZE bytes at __boot_stack),
    // word aligned; memory that this CPU alone writes.
    let untouched = unsafe { mem::count_leading(canary_words(), BOOT_STACK_SIZE as usize / 4, BOOT_STACK_CANARY) };
    (BOOT_STACK_SIZE as u64).saturating_sub(untouched as u64 * 4)
}

/// Paint the runtime stacks (MMU off, PA = pointer), and make the paint visible through the
/// runtime's cacheable mappings.
pub fn paint_runtime(region: PhysAddr, l: &ReservedLayout) {
    let pa = region.0 + l.stacks_off;
    let len = l.ncpus as u64 * layout::STACK_SIZE;
    // SAFETY: the stacks in the reserved region (packed, one after the other), which no CPU runs on
    // yet; the boot phase runs alone with the MMU off.
    unsafe { mem::fill(pa as usize as *mut u8, len as usize, layout::STACK_PAINT) };
    coherency::written_uncached(&mut ArmCache, pa, len, cache::dcache_line());
}

/// Stop with the reason if the canary was overwritten.
pub fn check(p: &Platform) {
    // SAFETY: reading the words `paint` wrote (in bounds of the same array).
    let intact =
        (0..BOOT_STACK_CANARY_WORDS).all(|i| unsafe { canary_words().add(i).read_volatile() } == BOOT_STACK_CANARY);
    if intact {
        return;
    }
    // The console's own state may be what was overwritten: set it up again to say so.
    if let Some(c) = p.console.filter(|c| c.kind != UartKind::Unsupported) {
        // SAFETY: the boot phase: one CPU, MMU off, and the device tree names the UART's physical
        // address, which nothing else drives.
        unsafe { console::install(c.kind, c.base as usize) };
    }
    fatal!(
        "the boot phase overflowed its {} KiB stack (the canary at its bottom was overwritten); .bss may be corrupt",
        BOOT_STACK_SIZE / 1024
    );
}
