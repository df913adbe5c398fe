//! The real cache and TLB maintenance, implementing `hypfw_core::mm::cache::CacheMaintenance`.

use super::regs::{Tlbiallh, write};
use aarch32_cpu::register::{BpIAll, Ctr, Dccmvac, Dcimvac, Iciallu};
use core::arch::asm;
use hypfw_core::mm::cache::CacheMaintenance;

pub struct ArmCache;

/// Smallest data cache line in the system, from CTR.DminLine (log2 of words).
pub fn dcache_line() -> u64 {
    4 << ((Ctr::read().0 >> 16) & 0xF)
}

/// The first line, the end and the line size of a by-address loop over `[start, start + len)`,
/// when it is not empty and stays far enough below 4 GiB that stepping a 32-bit address cannot
/// wrap (else `None`: the per-line default loop handles it).
fn range32(start: u64, len: u64, line: u64) -> Option<(u32, u32, u32)> {
    let end = start.checked_add(len)?;
    (len != 0 && line.is_power_of_two() && end <= u64::from(u32::MAX) - line)
        .then(|| ((start & !(line - 1)) as u32, end as u32, line as u32))
}

impl CacheMaintenance for ArmCache {
    fn clean_line_to_poc(&mut self, addr: u64) {
        // SAFETY: DCCMVAC only writes a line back to memory, never changes its contents; an
        // address that is not mapped faults like a load would, it cannot corrupt anything.
        unsafe { Dccmvac::write(Dccmvac::new(addr as u32)) };
    }
    fn invalidate_line_to_poc(&mut self, addr: u64) {
        // SAFETY: DCIMVAC discards the line's contents; the coherency helpers that call this do
        // so only for lines whose memory holds the data (written with the MMU off), so nothing is
        // lost, and discarding cannot break memory safety of the running code.
        unsafe { Dcimvac::write(Dcimvac(addr as u32)) };
    }
    fn clean_range_to_poc(&mut self, start: u64, len: u64, line: u64) {
        match range32(start, len, line) {
            // SAFETY: DCCMVAC per line, as `clean_line_to_poc`; the loop only adds and compares.
            Some((a, end, line)) => unsafe {
                asm!(
                    "2:",
                    "mcr p15, 0, {a}, c7, c10, 1",
                    "add {a}, {a}, {line}",
                    "cmp {a}, {end}",
                    "blo 2b",
                    a = inout(reg) a => _, end = in(reg) end, line = in(reg) line,
                    options(nostack),
                )
            },
            None => hypfw_core::mm::cache::each_line(start, len, line, |a| self.clean_line_to_poc(a)),
        }
    }
    fn invalidate_range_to_poc(&mut self, start: u64, len: u64, line: u64) {
        match range32(start, len, line) {
            // SAFETY: DCIMVAC per line, as `invalidate_line_to_poc` (same callers, same lines).
            Some((a, end, line)) => unsafe {
                asm!(
                    "2:",
                    "mcr p15, 0, {a}, c7, c6, 1",
                    "add {a}, {a}, {line}",
                    "cmp {a}, {end}",
                    "blo 2b",
                    a = inout(reg) a => _, end = in(reg) end, line = in(reg) line,
                    options(nostack),
                )
            },
            None => hypfw_core::mm::cache::each_line(start, len, line, |a| self.invalidate_line_to_poc(a)),
        }
    }
    fn dmb(&mut self) {
        // SAFETY: a barrier orders memory accesses; it reads or writes none itself.
        unsafe { asm!("dmb sy", options(nostack, preserves_flags)) };
    }
    fn dsb(&mut self) {
        // SAFETY: a barrier orders memory accesses; it reads or writes none itself.
        unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
    }
    fn isb(&mut self) {
        super::isb();
    }
    fn invalidate_icache(&mut self) {
        Iciallu::write();
        BpIAll::write();
    }
    fn tlbi_all_hyp(&mut self) {
        // SAFETY: invalidating HYP TLB entries never changes a translation (the tables stay in
        // memory), it only forces new walks.
        unsafe { write::<Tlbiallh>(0) };
    }
}
