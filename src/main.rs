//! hypfw firmware image: wiring only. Read `boot/entry.S`, then `boot.rs` (boot phase, MMU off),
//! `boot/init_page.S` (the two-phase MMU switch), then `runtime/` (the resident HYP runtime).
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

mod arch;
mod boot;
mod console;
mod gic;
mod heap;
mod prepare;
mod runtime;
mod stop;
