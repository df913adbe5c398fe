//! The one architecture seam: the rest of the firmware names `arch::...` and never writes `asm!`.
#[path = "armv7/mod.rs"]
mod imp;
pub use imp::*;
