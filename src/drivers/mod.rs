//! Device drivers: the console UARTs and the GIC registers hypfw touches.

pub mod console;
pub mod gic;
