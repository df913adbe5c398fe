//! hypfw firmware image: wiring only. Read `boot/entry.S`, then `setup/` (the boot phase, MMU
//! off), `boot/init_page.S` (the two-phase MMU switch), then `runtime/` (the resident HYP
//! runtime). `docs/architecture.md` has the file map and which room may import which.
//!
//! Rooms, and the only directions their imports go:
//! - `setup` (boot phase) -> `shared` <- `runtime`: the boot phase writes the statics the runtime
//!   reads; neither imports the other (the runtime entry is reached through its symbol);
//! - `setup`, `runtime` -> `drivers`, `base` -> `arch` -> `hypfw_core`;
//! - `arch` is the only room with `asm!`; `hypfw_core` never imports the firmware.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod arch;
mod base;
mod drivers;
mod runtime;
mod setup;
mod shared;
