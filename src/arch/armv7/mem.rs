//! Bulk copy and zeroing for the boot phase: 32 bytes per loop iteration through LDM/STM.
//!
//! Written here rather than left to `compiler_builtins`: its `memcpy`/`memset` move one word per
//! iteration (about 1.25 instructions per byte in the boot trace of `cargo xtask bench`), and the
//! boot phase moves the whole image and the payload with the MMU off, where every access goes to
//! memory. Unaligned or short tails fall back to `core::ptr`, which with the MMU off is still
//! correct (it uses byte accesses where the pointers are not word aligned).

use core::arch::asm;
use hypfw_core::payload::checksum::Sum;

/// Bytes per loop iteration.
const CHUNK: usize = 32;

/// How many of `len` bytes the LDM/STM loops take: whole chunks when every pointer (OR-ed into
/// `addrs`) is word aligned, else none (the tail code handles everything).
fn bulk_len(addrs: usize, len: usize) -> usize {
    if addrs.is_multiple_of(4) { len & !(CHUNK - 1) } else { 0 }
}

/// Copy `len` bytes from `src` to `dst`.
///
/// # Safety
/// As [`core::ptr::copy_nonoverlapping`]: both ranges valid, not overlapping.
pub unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) {
    let bulk = bulk_len(dst as usize | src as usize, len);
    if bulk != 0 {
        // SAFETY: the caller's obligations cover [dst, dst + bulk) and [src, src + bulk); both
        // are word aligned, so LDM/STM are valid on Device memory (MMU off) and Normal memory.
        unsafe {
            asm!(
                "2:",
                "ldmia {s}!, {{r3, r4, r5, r12}}",
                "stmia {d}!, {{r3, r4, r5, r12}}",
                "ldmia {s}!, {{r3, r4, r5, r12}}",
                "stmia {d}!, {{r3, r4, r5, r12}}",
                "subs {n}, {n}, #32",
                "bne 2b",
                s = inout(reg) src => _,
                d = inout(reg) dst => _,
                n = inout(reg) bulk => _,
                out("r3") _, out("r4") _, out("r5") _, out("r12") _,
                options(nostack),
            );
        }
    }
    // SAFETY: the rest of the caller's ranges.
    unsafe { core::ptr::copy_nonoverlapping(src.add(bulk), dst.add(bulk), len - bulk) };
}

/// Zero `len` bytes at `dst`.
///
/// # Safety
/// As [`core::ptr::write_bytes`]: the range is valid for writes.
pub unsafe fn zero(dst: *mut u8, len: usize) {
    let bulk = bulk_len(dst as usize, len);
    if bulk != 0 {
        // SAFETY: the caller's obligation covers [dst, dst + bulk), word aligned.
        unsafe {
            asm!(
                "mov r3, #0",
                "mov r4, #0",
                "mov r5, #0",
                "mov r12, #0",
                "2:",
                "stmia {d}!, {{r3, r4, r5, r12}}",
                "stmia {d}!, {{r3, r4, r5, r12}}",
                "subs {n}, {n}, #32",
                "bne 2b",
                d = inout(reg) dst => _,
                n = inout(reg) bulk => _,
                out("r3") _, out("r4") _, out("r5") _, out("r12") _,
                options(nostack),
            );
        }
    }
    // SAFETY: the rest of the caller's range.
    unsafe { core::ptr::write_bytes(dst.add(bulk), 0, len - bulk) };
}

/// [`copy`], summing what it copies as the pack's checksum does (`hypfw_core::payload::checksum`):
/// the payload is read once, at about half an instruction per byte, instead of a copy and a
/// separate pass (CRC-32 cost 6 per byte).
///
/// # Safety
/// As [`copy`].
pub unsafe fn copy_sum(dst: *mut u8, src: *const u8, len: usize) -> Sum {
    let bulk = bulk_len(dst as usize | src as usize, len);
    let (mut a, mut b) = (0u32, 0u32);
    if bulk != 0 {
        // SAFETY: as in `copy`; the loop also adds each word to `a`, and `a` to `b` per 32-byte
        // block, as `Sum::block` does.
        unsafe {
            asm!(
                "2:",
                "ldmia {s}!, {{r3, r4, r5, r12}}",
                "stmia {d}!, {{r3, r4, r5, r12}}",
                "add {a}, {a}, r3",
                "add {a}, {a}, r4",
                "add {a}, {a}, r5",
                "add {a}, {a}, r12",
                "ldmia {s}!, {{r3, r4, r5, r12}}",
                "stmia {d}!, {{r3, r4, r5, r12}}",
                "add {a}, {a}, r3",
                "add {a}, {a}, r4",
                "add {a}, {a}, r5",
                "add {a}, {a}, r12",
                "add {b}, {b}, {a}",
                "subs {n}, {n}, #32",
                "bne 2b",
                s = inout(reg) src => _,
                d = inout(reg) dst => _,
                n = inout(reg) bulk => _,
                a = inout(reg) a,
                b = inout(reg) b,
                out("r3") _, out("r4") _, out("r5") _, out("r12") _,
                options(nostack),
            );
        }
    }
    // SAFETY: the rest of the caller's ranges (the source is read again only for the tail).
    unsafe {
        core::ptr::copy_nonoverlapping(src.add(bulk), dst.add(bulk), len - bulk);
        Sum { a, b }.bytes(core::slice::from_raw_parts(src.add(bulk), len - bulk))
    }
}
