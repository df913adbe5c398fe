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
