//! Device drivers: the console UARTs, the GIC registers hypfw touches, QEMU's fw_cfg registers
//! the runtime passes the payload's accesses to, and those single accesses themselves (`mmio`).

pub mod console;
pub mod fwcfg;
pub mod gic;
pub mod mmio;
