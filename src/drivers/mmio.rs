//! One load or store of the payload's, carried out at a device's runtime VA (`runtime::fwcfg`,
//! `runtime::release`): of the payload's own width, the bytes in address order. The access
//! itself is assembly (`hypfw_mmio_read`/`_write` in boot/vectors.S) so that a device that
//! answers it with an error (a synchronous external abort in HYP, where a page of registers has
//! holes) returns here as `None`/`false` instead of stopping hypfw.

unsafe extern "C" {
    /// r0 = the value, r1 = 1 if the access faulted (then r0 = 0).
    fn hypfw_mmio_read(at: usize, size: u32) -> u64;
    /// r1 = 1 if the access faulted.
    fn hypfw_mmio_write(at: usize, size: u32, value: u32) -> u64;
}

/// Read `size` (1, 2 or 4) bytes at `at`; None if the access faulted.
///
/// # Safety
/// `at` is mapped as device memory in the runtime table (or not mapped at all: the access then
/// faults), aligned to `size`, and a read there has no effect hypfw depends on.
pub unsafe fn read(at: usize, size: u32) -> Option<[u8; 4]> {
    // SAFETY: the caller's obligation; one access of the width asked for, whose fault returns.
    let r = unsafe { hypfw_mmio_read(at, size) };
    (r >> 32 == 0).then(|| (r as u32).to_le_bytes())
}

/// Write the first `size` (1, 2 or 4) of `bytes` at `at`; false if the access faulted.
///
/// # Safety
/// As for [`read`], for a write.
pub unsafe fn write(at: usize, size: u32, bytes: [u8; 4]) -> bool {
    // SAFETY: the caller's obligation; one access of the width asked for, whose fault returns.
    unsafe { hypfw_mmio_write(at, size, u32::from_le_bytes(bytes)) >> 32 == 0 }
}
