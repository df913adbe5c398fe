//! QEMU's fw_cfg registers as the runtime touches them on the payload's behalf (the policy, what
//! is passed on and what is refused, is `hypfw_core::services::fwcfg`): reads of the data
//! register and writes of the selector, at the device's runtime VA. The DMA address register is
//! never touched.

use hypfw_core::services::fwcfg::{DATA, SELECTOR};

/// The device at its HYP VA.
#[derive(Clone, Copy)]
pub struct FwCfg {
    va: usize,
}

impl FwCfg {
    /// # Safety
    /// `va` is the device's base (data register) in the runtime table, mapped as device memory
    /// for the life of the runtime.
    pub const unsafe fn new(va: usize) -> Self {
        FwCfg { va }
    }

    /// Read `size` (1, 2 or 4) bytes from the data register, in address order (the register is
    /// string-preserving: byte i of the result is the item's next byte i); None if the device
    /// answered with an error.
    pub fn read_data(self, size: u32) -> Option<[u8; 4]> {
        // SAFETY: `new`'s obligation: the data register is mapped as device memory at its offset
        // (0, aligned for every width); the device accepts reads of 1, 2 and 4 bytes there.
        unsafe { super::mmio::read(self.va + DATA as usize, size) }
    }

    /// Write the selector with `bytes` in address order (the big-endian key).
    pub fn select(self, bytes: [u8; 2]) {
        let at = self.va + SELECTOR as usize;
        // SAFETY: `new`'s obligation: the selector register is mapped at `at` as device memory; a
        // 16-bit write is the one access it accepts.
        unsafe { core::ptr::write_volatile(at as *mut u16, u16::from_le_bytes(bytes)) };
    }
}
