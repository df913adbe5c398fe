//! Address-space newtypes. Physical addresses are 64-bit (LPAE: RAM and devices may sit above
//! 4 GiB); HYP virtual addresses are 32-bit.

use core::fmt;

/// A physical address (output of the HYP stage-1 and stage-2 tables).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysAddr(pub u64);

/// A HYP virtual address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VirtAddr(pub u32);

pub const PAGE_SIZE: u64 = 4096;
pub const PAGE_SHIFT: u32 = 12;

impl PhysAddr {
    pub const fn is_page_aligned(self) -> bool {
        self.0.is_multiple_of(PAGE_SIZE)
    }
    pub const fn add(self, off: u64) -> Self {
        PhysAddr(self.0 + off)
    }
    /// The 64-bit value as the (low, high) register pair that MCRR/STRD pairs take. This is the
    /// one place that splits a table address for the assembly, whatever the byte order.
    pub const fn to_reg_pair(self) -> [u32; 2] {
        [self.0 as u32, (self.0 >> 32) as u32]
    }
}

impl VirtAddr {
    pub const fn is_page_aligned(self) -> bool {
        (self.0 as u64).is_multiple_of(PAGE_SIZE)
    }
}

impl fmt::Debug for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PA {:#x}", self.0)
    }
}
impl fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}
impl fmt::Debug for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VA {:#010x}", self.0)
    }
}
impl fmt::Display for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// Round `v` up to a multiple of `align` (a power of two).
pub const fn align_up(v: u64, align: u64) -> u64 {
    (v + align - 1) & !(align - 1)
}
/// Round `v` down to a multiple of `align` (a power of two).
pub const fn align_down(v: u64, align: u64) -> u64 {
    v & !(align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reg_pair_is_low_then_high() {
        assert_eq!(PhysAddr(0x0000_0012_3456_7000).to_reg_pair(), [0x3456_7000, 0x12]);
    }

    #[test]
    fn alignment_helpers() {
        assert_eq!(align_up(0x1001, 0x1000), 0x2000);
        assert_eq!(align_up(0x1000, 0x1000), 0x1000);
        assert_eq!(align_down(0x1fff, 0x1000), 0x1000);
    }
}
