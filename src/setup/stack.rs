//! The stacks' paint. The boot stack: the boot phase runs with the MMU off, so its stack has no
//! guard page; its lowest part (`BOOT_STACK_WATCH` bytes) is painted with a canary word at entry
//! and read back before the hand-over. Canary words overwritten at the very bottom turn an
//! overflow into a `fatal:` line instead of silently corrupted `.bss`; any word of the watched
//! part overwritten means the boot phase came within that much of overflowing, which the runtime
//! reports as a failure, with the exact mark. The part above is not painted (every boot uses it,
//! and reading it cost more than the rest of the check). The runtime stacks are painted here too,
//! before any CPU runs on them; the runtime reports their marks.

use crate::arch::cache::{self, ArmCache};
use crate::arch::{self, mem};
use crate::drivers::console;
use crate::fatal;
use hypfw_core::abi::{self, BOOT_STACK_CANARY, BOOT_STACK_SIZE, BOOT_STACK_WATCH};
use hypfw_core::mm::addr::PhysAddr;
use hypfw_core::mm::coherency;
use hypfw_core::mm::layout::{self, ReservedLayout};
use hypfw_core::platform::dtb::{Platform, UartKind};

unsafe extern "C" {
    /// The lowest words of the boot stack (boot/entry.S), the watched part.
    static mut __boot_stack: [u32; BOOT_STACK_WATCH as usize / 4];
}

fn watched_words() -> *mut u32 {
    &raw mut __boot_stack as *mut u32
}

/// Bytes below the current SP that `paint` leaves alone (this function's own frame and what a
/// call from it may push).
const PAINT_CLEARANCE: usize = 256;

/// Paint the watched part of the boot stack with the canary word. Called first thing in the boot
/// phase.
#[inline(never)]
pub fn paint() {
    let bottom = watched_words() as usize;
    if arch::sp() - PAINT_CLEARANCE < bottom + BOOT_STACK_WATCH as usize {
        fatal!("the boot stack is already used down to its watched bottom {} bytes at entry", BOOT_STACK_WATCH);
    }
    // SAFETY: the lowest BOOT_STACK_WATCH bytes of the boot stack, below the frames in use and the
    // clearance this call's own frame needs (checked above); entry.S reserved them for the stack,
    // and nothing else lives there.
    unsafe { mem::fill(bottom as *mut u8, BOOT_STACK_WATCH as usize, BOOT_STACK_CANARY) };
}

/// Stop with the reason if the boot phase overflowed its stack (the canary words at its bottom
/// overwritten); otherwise return the stack's high-water mark (`abi::boot_stack_peak`: exact
/// inside the watched part, its top otherwise). Called last thing before the hand-over.
pub fn check(p: &Platform) -> u32 {
    // SAFETY: the watched part's own words (BOOT_STACK_WATCH bytes at __boot_stack, word aligned),
    // which this CPU alone writes.
    let untouched = unsafe { mem::count_leading(watched_words(), BOOT_STACK_WATCH as usize / 4, BOOT_STACK_CANARY) };
    if abi::boot_stack_canary_intact(untouched) {
        return abi::boot_stack_peak(untouched);
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
