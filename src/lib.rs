//! hypfw's hardware-independent logic. Every module here compiles on the host and is unit-tested
//! there; the firmware binary (`main.rs`) adds the ARMv7 layer, the boot flow and the runtime.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod addr;
pub mod cache;
pub mod cpuid;
pub mod dtb;
pub mod handoff;
pub mod handover;
pub mod hsr;
pub mod hvc;
pub mod inject;
pub mod layout;
pub mod pack;
pub mod pgtable;
pub mod psci;
pub mod reloc;
pub mod smp;
pub mod stage2;
pub mod zimage;
