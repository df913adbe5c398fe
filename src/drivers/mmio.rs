//! One load or store of the payload's, carried out at a device's runtime VA (`runtime::fwcfg`,
//! `runtime::release`): of the payload's own width, the bytes in address order.

/// Read `size` (1, 2 or 4) bytes at `at`.
///
/// # Safety
/// `at` is mapped as device memory in the runtime table, aligned to `size`, and the device
/// there accepts a read of that width.
pub unsafe fn read(at: usize, size: u32) -> [u8; 4] {
    // SAFETY: the caller's obligation; one volatile access of the width asked for.
    let v = unsafe {
        match size {
            1 => core::ptr::read_volatile(at as *const u8) as u32,
            2 => core::ptr::read_volatile(at as *const u16) as u32,
            _ => core::ptr::read_volatile(at as *const u32),
        }
    };
    v.to_le_bytes()
}

/// Write the first `size` (1, 2 or 4) of `bytes` at `at`.
///
/// # Safety
/// As for [`read`], for a write.
pub unsafe fn write(at: usize, size: u32, bytes: [u8; 4]) {
    let v = u32::from_le_bytes(bytes);
    // SAFETY: the caller's obligation; one volatile access of the width asked for.
    unsafe {
        match size {
            1 => core::ptr::write_volatile(at as *mut u8, v as u8),
            2 => core::ptr::write_volatile(at as *mut u16, v as u16),
            _ => core::ptr::write_volatile(at as *mut u32, v),
        }
    }
}
