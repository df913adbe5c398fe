//! What both phases of the firmware stand on: stopping (`fatal!`, power-off, the panic handler).
//! There is no allocator: nothing in hypfw allocates.

pub mod stop;
