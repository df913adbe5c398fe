//! The payload: how it travels with hypfw (the pack behind the image, the zImage header), where it
//! goes in RAM, and the device tree it is given.

pub mod checksum;
#[cfg(any(test, feature = "std"))]
pub mod fdt_build;
pub mod pack;
pub mod placement;
pub mod rewrite;
pub mod zimage;
