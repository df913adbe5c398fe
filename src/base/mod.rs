//! What both phases of the firmware stand on: stopping (`fatal!`, power-off, the panic handler)
//! and the allocator.

pub mod heap;
pub mod stop;
