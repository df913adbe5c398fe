//! Device drivers: the console UARTs, the GIC registers hypfw touches, and QEMU's fw_cfg registers
//! the runtime passes the payload's accesses to.

pub mod console;
pub mod fwcfg;
pub mod gic;
