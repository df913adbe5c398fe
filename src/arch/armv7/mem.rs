//! Bulk copy and zeroing for the boot phase: 64 bytes per loop iteration through eight-register
//! LDM/STM (256 for a fill), then 32-byte chunks through four registers.
//!
//! Written here rather than left to `compiler_builtins`: its `memcpy`/`memset` move one word per
//! iteration (about 1.25 instructions per byte in the boot trace of `cargo xtask bench`), and the
//! boot phase moves the whole image and the payload with the MMU off, where every access goes to
//! memory. Unaligned or short tails fall back to `core::ptr`, which with the MMU off is still
//! correct (it uses byte accesses where the pointers are not word aligned).

use core::arch::asm;
use hypfw_core::payload::checksum::Sum;

/// Bytes per iteration of the four-register loops.
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
    // 256 bytes a step (the resident copy is ~90 KiB: 2.25 instructions per 32 bytes instead of
    // 3 with 64); what is left goes through the narrower loops.
    let bulk = if (dst as usize | src as usize).is_multiple_of(4) { len & !(4 * WIDE - 1) } else { 0 };
    if bulk != 0 {
        // SAFETY: the caller's obligations cover [dst, dst + bulk) and [src, src + bulk); both
        // are word aligned, so LDM/STM are valid on Device memory (MMU off) and Normal memory.
        unsafe {
            asm!(
                "2:",
                ".rept 8",
                "ldmia {s}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "stmia {d}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                ".endr",
                "subs {n}, {n}, #256",
                "bne 2b",
                s = inout(reg) src => _,
                d = inout(reg) dst => _,
                n = inout(reg) bulk => _,
                out("r3") _, out("r4") _, out("r5") _, out("r8") _, out("r9") _, out("r10") _,
                out("r12") _, out("lr") _,
                options(nostack),
            );
        }
    }
    // SAFETY: the rest of the caller's ranges (under 256 bytes: the next loop's 32-byte chunks
    // and the word or byte tail).
    unsafe { copy_narrow(dst.add(bulk), src.add(bulk), len - bulk) };
}

/// Bytes per iteration of [`fill`]'s eight-register loop ([`copy`]'s takes four times as many).
const WIDE: usize = 64;

/// As [`bulk_len`], in [`WIDE`] chunks.
fn wide_len(addrs: usize, len: usize) -> usize {
    if addrs.is_multiple_of(4) { len & !(WIDE - 1) } else { 0 }
}

/// [`copy`]'s rest after the wide loop: [`__aeabi_memcpy4`]'s 32-byte loop and word and byte tail
/// when both pointers are word aligned, else the byte-wise copy.
///
/// # Safety
/// As [`copy`].
unsafe fn copy_narrow(dst: *mut u8, src: *const u8, len: usize) {
    if (dst as usize | src as usize).is_multiple_of(4) {
        // SAFETY: the caller's ranges, both word aligned as the AEABI routine requires.
        unsafe { __aeabi_memcpy4(dst, src, len) }
    } else {
        // SAFETY: the caller's ranges.
        unsafe { core::ptr::copy_nonoverlapping(src, dst, len) }
    }
}

/// Zero `len` bytes at `dst`.
///
/// # Safety
/// As [`core::ptr::write_bytes`]: the range is valid for writes.
pub unsafe fn zero(dst: *mut u8, len: usize) {
    // SAFETY: the caller's obligation.
    unsafe { fill(dst, len, 0) }
}

/// Fill `len` bytes at `dst` with copies of `word` (the stacks' paint); `dst` and `len` are whole
/// words, or the tail is written bytewise with `word`'s low byte.
///
/// # Safety
/// As [`core::ptr::write_bytes`]: the range is valid for writes.
pub unsafe fn fill(dst: *mut u8, len: usize, word: u32) {
    let wide = wide_len(dst as usize, len);
    if wide != 0 {
        // SAFETY: the caller's obligation covers [dst, dst + wide), word aligned.
        unsafe {
            asm!(
                "mov r4, r3",
                "mov r5, r3",
                "mov r8, r3",
                "mov r9, r3",
                "mov r10, r3",
                "mov r12, r3",
                "mov lr, r3",
                // 64 bytes at a time until a multiple of 256 is left, then 256 at a time.
                "1:",
                "tst {n}, #0xC0",
                "beq 2f",
                "stmia {d}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "stmia {d}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "sub {n}, {n}, #64",
                "b 1b",
                "2:",
                "cmp {n}, #0",
                "beq 3f",
                "4:",
                "stmia {d}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "stmia {d}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "stmia {d}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "stmia {d}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "stmia {d}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "stmia {d}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "stmia {d}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "stmia {d}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "subs {n}, {n}, #256",
                "bne 4b",
                "3:",
                d = inout(reg) dst => _,
                n = inout(reg) wide => _,
                inout("r3") word => _, out("r4") _, out("r5") _, out("r8") _, out("r9") _, out("r10") _,
                out("r12") _, out("lr") _,
                options(nostack),
            );
        }
    }
    // SAFETY: the rest of the caller's range (under 64 bytes: the whole pages and stacks this
    // fills leave none; the copy's .bss tail a few words).
    let (dst, rest) = unsafe { (dst.add(wide), len - wide) };
    if rest.is_multiple_of(4) && (dst as usize).is_multiple_of(4) {
        for i in 0..rest / 4 {
            // SAFETY: the rest of the caller's range, word aligned.
            unsafe { (dst as *mut u32).add(i).write_volatile(word) };
        }
    } else {
        // SAFETY: the rest of the caller's range.
        unsafe { core::ptr::write_bytes(dst, word as u8, rest) };
    }
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

/// How many of the `words` words from `p` up equal `value` before the first that does not (the
/// stacks' high-water marks): sixteen words per step through two eight-register LDMs and one
/// chain of conditional compares (about 1.3 instructions per word), the rest one by one.
///
/// # Safety
/// `p` is word aligned and `words` words from it are readable.
pub unsafe fn count_leading(p: *const u32, words: usize, value: u32) -> usize {
    let mut cur = p;
    let groups = words / 16;
    if groups != 0 {
        // SAFETY: the caller's obligation covers the `groups * 16` words read here, word aligned.
        // The second LDM runs only when the first eight words all matched; on a mismatch the
        // cursor is just past the eight-word half holding it and is moved back to that half.
        unsafe {
            asm!(
                "2:",
                "ldmia {c}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "cmp r3, {v}",
                "cmpeq r4, {v}",
                "cmpeq r5, {v}",
                "cmpeq r8, {v}",
                "cmpeq r9, {v}",
                "cmpeq r10, {v}",
                "cmpeq r12, {v}",
                "cmpeq lr, {v}",
                "ldmiaeq {c}!, {{r3, r4, r5, r8, r9, r10, r12, lr}}",
                "cmpeq r3, {v}",
                "cmpeq r4, {v}",
                "cmpeq r5, {v}",
                "cmpeq r8, {v}",
                "cmpeq r9, {v}",
                "cmpeq r10, {v}",
                "cmpeq r12, {v}",
                "cmpeq lr, {v}",
                "bne 3f",
                "subs {n}, {n}, #1",
                "bne 2b",
                "b 4f",
                "3:",
                "sub {c}, {c}, #32",
                "4:",
                c = inout(reg) cur,
                n = inout(reg) groups => _,
                v = in(reg) value,
                out("r3") _, out("r4") _, out("r5") _, out("r8") _, out("r9") _, out("r10") _,
                out("r12") _, out("lr") _,
                options(nostack, readonly),
            );
        }
    }
    // SAFETY: `cur` lies within the caller's range (at the eight words with the mismatch, or at
    // the tail).
    let mut n = unsafe { cur.offset_from(p) } as usize;
    // SAFETY: words below `p + words`, within the caller's range.
    while n < words && unsafe { p.add(n).read_volatile() } == value {
        n += 1;
    }
    n
}

/// `__aeabi_memcpy4` and `__aeabi_memcpy8` (ARM IHI 0043 4.3.4: both pointers word or
/// doubleword aligned), which LLVM calls for struct copies (the page-table plans, the device
/// tree walk's answers): `compiler_builtins` moves one word per five instructions there; this
/// moves 32 bytes per seven, then words, then bytes. Pure assembly, so the compiler cannot turn
/// the loop back into a call to itself.
///
/// # Safety
/// The AEABI contract: `dst` and `src` are word aligned, `n` bytes are valid at each, and the
/// ranges do not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __aeabi_memcpy4(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller's contract; LDM/STM and LDR/STR on word aligned addresses.
    unsafe {
        asm!(
            "cmp {n}, #32",
            "blo 2f",
            "1:",
            "ldmia {s}!, {{r3, r4, r5, r12}}",
            "stmia {d}!, {{r3, r4, r5, r12}}",
            "ldmia {s}!, {{r3, r4, r5, r12}}",
            "stmia {d}!, {{r3, r4, r5, r12}}",
            "sub {n}, {n}, #32",
            "cmp {n}, #32",
            "bhs 1b",
            "2:",
            "cmp {n}, #4",
            "blo 3f",
            "ldr r3, [{s}], #4",
            "str r3, [{d}], #4",
            "sub {n}, {n}, #4",
            "b 2b",
            "3:",
            "cmp {n}, #0",
            "beq 4f",
            "ldrb r3, [{s}], #1",
            "strb r3, [{d}], #1",
            "sub {n}, {n}, #1",
            "b 3b",
            "4:",
            s = inout(reg) src => _,
            d = inout(reg) dst => _,
            n = inout(reg) n => _,
            out("r3") _, out("r4") _, out("r5") _, out("r12") _,
            options(nostack),
        );
    }
}

/// See [`__aeabi_memcpy4`] (doubleword alignment implies word alignment).
///
/// # Safety
/// As [`__aeabi_memcpy4`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __aeabi_memcpy8(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller's contract.
    unsafe { __aeabi_memcpy4(dst, src, n) }
}

/// `__aeabi_memclr4` and `__aeabi_memclr8` (ARM IHI 0043 4.3.4: `dst` word or doubleword
/// aligned), which LLVM calls to zero structs (the device tree walk's state, the page-table
/// sizing's keys): 32 bytes per four instructions, then words, then bytes, in pure assembly as
/// [`__aeabi_memcpy4`].
///
/// # Safety
/// The AEABI contract: `dst` is word aligned and `n` bytes at it are valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __aeabi_memclr4(dst: *mut u8, n: usize) {
    // SAFETY: the caller's contract; STM and STR on word aligned addresses.
    unsafe {
        asm!(
            "mov r3, #0",
            "mov r4, #0",
            "mov r5, #0",
            "mov r12, #0",
            "cmp {n}, #32",
            "blo 2f",
            "1:",
            "stmia {d}!, {{r3, r4, r5, r12}}",
            "stmia {d}!, {{r3, r4, r5, r12}}",
            "sub {n}, {n}, #32",
            "cmp {n}, #32",
            "bhs 1b",
            "2:",
            "cmp {n}, #4",
            "blo 3f",
            "str r3, [{d}], #4",
            "sub {n}, {n}, #4",
            "b 2b",
            "3:",
            "cmp {n}, #0",
            "beq 4f",
            "strb r3, [{d}], #1",
            "sub {n}, {n}, #1",
            "b 3b",
            "4:",
            d = inout(reg) dst => _,
            n = inout(reg) n => _,
            out("r3") _, out("r4") _, out("r5") _, out("r12") _,
            options(nostack),
        );
    }
}

/// See [`__aeabi_memclr4`].
///
/// # Safety
/// As [`__aeabi_memclr4`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __aeabi_memclr8(dst: *mut u8, n: usize) {
    // SAFETY: the caller's contract.
    unsafe { __aeabi_memclr4(dst, n) }
}
