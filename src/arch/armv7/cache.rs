//! The real cache and TLB maintenance, implementing `hypfw::cache::CacheMaintenance`.

use super::regs::{Tlbiallh, write};
use aarch32_cpu::register::{BpIAll, Ctr, Dccmvac, Dcimvac, Iciallu};
use core::arch::asm;
use hypfw::cache::CacheMaintenance;

pub struct ArmCache;

/// Smallest data cache line in the system, from CTR.DminLine (log2 of words).
pub fn dcache_line() -> u64 {
    4 << ((Ctr::read().0 >> 16) & 0xF)
}

impl CacheMaintenance for ArmCache {
    fn clean_line_to_poc(&mut self, addr: u64) {
        // SAFETY: DCCMVAC only writes back a line; the address is one the caller maps (PA with
        // the MMU off, or a runtime VA).
        unsafe { Dccmvac::write(Dccmvac::new(addr as u32)) };
    }
    fn dsb(&mut self) {
        // SAFETY: barrier only.
        unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
    }
    fn isb(&mut self) {
        // SAFETY: barrier only.
        unsafe { asm!("isb", options(nostack, preserves_flags)) };
    }
    fn invalidate_icache(&mut self) {
        Iciallu::write();
        BpIAll::write();
    }
    fn tlbi_all_hyp(&mut self) {
        // SAFETY: invalidating HYP TLB entries is always safe; the tables stay in memory.
        unsafe { write::<Tlbiallh>(0) };
    }
}

/// Clean one line to the PoC and wait for it (a mailbox another CPU reads with its MMU off).
pub fn clean_dcache_line(va: usize) {
    // SAFETY: cleaning only writes back.
    unsafe {
        Dccmvac::write(Dccmvac::new(va as u32));
        asm!("dsb sy", options(nostack, preserves_flags));
    }
}

/// Invalidate one line (a mailbox another CPU writes with its MMU off), so the next read goes to
/// memory.
///
/// # Safety
/// The line must hold nothing this CPU wrote and still needs: dirty data in it is discarded.
pub unsafe fn invalidate_dcache_line(va: usize) {
    // SAFETY: forwarded to the caller.
    unsafe {
        Dcimvac::write(Dcimvac(va as u32));
        asm!("dsb sy", options(nostack, preserves_flags));
    }
}
