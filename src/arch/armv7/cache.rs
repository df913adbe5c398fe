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

/// Clean one line to the PoC and wait for it (a mailbox another CPU reads with its MMU off).
pub fn clean_dcache_line(va: usize) {
    // SAFETY: cleaning only writes a line back to memory (contents unchanged); DSB waits for it.
    unsafe {
        Dccmvac::write(Dccmvac::new(va as u32));
        asm!("dsb sy", options(nostack, preserves_flags));
    }
}

/// Invalidate one line (a mailbox another CPU writes with its MMU off), so the next read goes to
/// memory.
///
/// # Safety
/// 1. the line holds nothing this CPU wrote and still needs: dirty data in it is discarded.
pub unsafe fn invalidate_dcache_line(va: usize) {
    // SAFETY: obligation 1: discarding the line loses nothing; the next read goes to memory.
    unsafe {
        Dcimvac::write(Dcimvac(va as u32));
        asm!("dsb sy", options(nostack, preserves_flags));
    }
}
