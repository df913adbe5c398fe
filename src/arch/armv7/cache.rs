//! The real cache and TLB maintenance, implementing `hypfw_core::mm::cache::CacheMaintenance`.

use super::regs::{Hmair0, Hmair1, Hsctlr, Htcr, Httbr, Tlbiallh, read, write, write64};
use aarch32_cpu::register::{BpIAll, Ctr, Dccmvac, Dcimvac, Iciallu};
use core::arch::asm;
use hypfw_core::abi::bits::{ACTLR_SMP, Hsctlr as HsctlrBits};
use hypfw_core::mm::addr::PhysAddr;
use hypfw_core::mm::cache::CacheMaintenance;
use hypfw_core::mm::pgtable::{HMAIR0, HMAIR1, HTCR};
use hypfw_core::mm::window::WindowControl;

unsafe extern "C" {
    /// HSCTLR.M, C, I := 0, then every data/unified level cleaned and invalidated by set/way to
    /// the LoC, with no other memory access in between (boot/entry.S).
    fn hypfw_window_off_clean();
}

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
    // Room above the end for the loops' look-ahead of eight lines.
    (len != 0 && line.is_power_of_two() && line <= 1 << 12 && end <= u64::from(u32::MAX) - 8 * line)
        .then(|| ((start & !(line - 1)) as u32, end as u32, line as u32))
}

/// DC maintenance by VA over `[a, end)` (`a` line aligned, `end` at least eight lines below 2^32:
/// `range32`), with the CP15 operation `$op` ("c7, c10, 1" DCCMVAC, "c7, c6, 1" DCIMVAC): eight
/// lines a step while eight more fit below the end (2.4 instructions a line rather than 4: the
/// image copy's maintenance is ~1,400 lines), then one at a time.
macro_rules! by_line {
    ($a:expr, $end:expr, $line:expr, $op:literal) => {
        asm!(
            "b 3f",
            "2:",
            ".rept 8",
            concat!("mcr p15, 0, {a}, ", $op),
            "add {a}, {a}, {line}",
            ".endr",
            "3:",
            "add {t}, {a}, {line}, lsl #3",
            "cmp {t}, {end}",
            "bls 2b",
            "4:",
            "cmp {a}, {end}",
            "bhs 5f",
            concat!("mcr p15, 0, {a}, ", $op),
            "add {a}, {a}, {line}",
            "b 4b",
            "5:",
            a = inout(reg) $a => _, end = in(reg) $end, line = in(reg) $line, t = out(reg) _,
            options(nostack),
        )
    };
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
            Some((a, end, line)) => unsafe { by_line!(a, end, line, "c7, c10, 1") },
            None => hypfw_core::mm::cache::each_line(start, len, line, |a| self.clean_line_to_poc(a)),
        }
    }
    fn invalidate_range_to_poc(&mut self, start: u64, len: u64, line: u64) {
        match range32(start, len, line) {
            // SAFETY: DCIMVAC per line, as `invalidate_line_to_poc` (same callers, same lines).
            Some((a, end, line)) => unsafe { by_line!(a, end, line, "c7, c6, 1") },
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

/// The boot phase's cached window (`hypfw_core::mm::window`): only the boot CPU, in HYP, at the
/// identity addresses of its code, stack and data.
impl WindowControl for ArmCache {
    fn load_tables(&mut self, root: PhysAddr) {
        // ACTLR.SMP before any cache comes on, as the init page does (Cortex-A15/A7 TRMs); a
        // write the Secure firmware does not allow (NSACR.NS_SMP clear) is ignored.
        // SAFETY: sets only the coherency bit, which the init page sets on every CPU anyway.
        unsafe {
            asm!(
                "mrc p15, 0, {t}, c1, c0, 1",
                "orr {t}, {t}, #{smp}",
                "mcr p15, 0, {t}, c1, c0, 1",
                t = out(reg) _,
                smp = const ACTLR_SMP,
                options(nostack, preserves_flags),
            )
        };
        // SAFETY: with HSCTLR.M = 0 these only take effect when the MMU is switched on, which
        // the window does with `root` a published identity map of what it runs and touches.
        unsafe {
            write::<Hmair0>(HMAIR0);
            write::<Hmair1>(HMAIR1);
            write::<Htcr>(HTCR);
            write64::<Httbr>(root.0);
        }
    }
    fn mmu_caches_on(&mut self) {
        let v = read::<Hsctlr>() | (HsctlrBits::M | HsctlrBits::C | HsctlrBits::I).bits();
        // SAFETY: HTTBR holds an identity map of the code, stack and data in use (`open`), so
        // every address means the same before and after; nothing cached is stale (window doc).
        unsafe { write::<Hsctlr>(v) };
    }
    fn mmu_caches_off_clean_all(&mut self) {
        // SAFETY: only the boot CPU runs hypfw code (set/way maintenance is then complete); the
        // routine saves what it clobbers beyond the AAPCS scratch registers and returns at the
        // identity address it was called from.
        unsafe { hypfw_window_off_clean() };
    }
}
