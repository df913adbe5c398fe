//! The platform hypfw runs on: what the device tree describes, which CPU this is, how CPUs are
//! numbered, and the options the user gave hypfw on its command line.

pub mod cpuid;
pub mod dtb;
pub mod options;
pub mod packed;
pub mod smp;
pub mod uart;
