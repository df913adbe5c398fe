//! hypfw's pure logic: everything that can be decided without touching the hardware. It compiles
//! on the host and is unit-tested there; the firmware crate (`src/`) adds the ARMv7 layer, the
//! drivers, the boot phase and the runtime on top of it. `unsafe` is forbidden here, so the
//! compiler, not a convention, keeps hardware access out.
//!
//! Rooms, each importing only the ones listed before it (`cargo xtask rooms` checks it):
//! - [`mm`]: addresses, LPAE descriptors, the table builder and walker, stage 2, the reserved
//!   region's layout, the frame allocator, the cache-maintenance trait;
//! - [`abi`]: hardware bit definitions and every structure and constant shared with assembly;
//! - [`platform`]: what the device tree says (RAM, console, GIC, CPUs, PSCI), CPU identification
//!   and numbering, hypfw's command-line options;
//! - [`payload`]: the pack format, the zImage header, placement in RAM, the device-tree rewrite;
//! - [`services`]: what the payload may ask (HVC, PSCI), HSR decoding, abort injection;
//! - [`rng`]: a deterministic generator for the test tools (imports nothing).
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]

pub mod abi;
pub mod mm;
pub mod payload;
pub mod platform;
pub mod rng;
pub mod services;
