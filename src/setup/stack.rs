//! The boot stack's canary: the boot phase runs with the MMU off, so its stack has no guard page;
//! a canary at the bottom, checked before the hand-over, turns an overflow into a `fatal:` line
//! instead of silently corrupted `.bss`.

use crate::drivers::console;
use crate::fatal;
use hypfw_core::abi::{BOOT_STACK_CANARY, BOOT_STACK_CANARY_WORDS, BOOT_STACK_SIZE};
use hypfw_core::platform::dtb::{Platform, UartKind};

unsafe extern "C" {
    /// The lowest words of the boot stack (boot/entry.S).
    static mut __boot_stack: [u32; BOOT_STACK_CANARY_WORDS];
}

fn canary_words() -> *mut u32 {
    &raw mut __boot_stack as *mut u32
}

/// Paint the canary. Called first thing in the boot phase.
pub fn paint() {
    for i in 0..BOOT_STACK_CANARY_WORDS {
        // SAFETY: the lowest words of the boot stack, which entry.S reserved and which lie far
        // below the frames in use this early; volatile, so the stores are not elided.
        unsafe { canary_words().add(i).write_volatile(BOOT_STACK_CANARY) };
    }
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
