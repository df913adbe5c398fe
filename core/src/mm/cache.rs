//! The cache, TLB and barrier operations that page-table publication, the MMU switch and the
//! coherency rule (`mm::coherency`) need, behind a trait so their *order* can be checked on the
//! host: QEMU does not model caches, so a missing clean or a barrier in the wrong place would pass
//! every boot test and fail on a board.

/// Size of the cache line that clean-by-address operations work on. Cortex-A15 and A7 have
/// 64-byte lines (CTR.DminLine = 4); the real implementation reads CTR, this is the unit the
/// page-table code tracks dirty lines in, which must not be larger than the real line.
pub const TRACK_LINE: u64 = 64;

pub trait CacheMaintenance {
    /// Clean the data cache line holding physical address `pa` to the Point of Coherency
    /// (DCCMVAC). The address is the one the current code uses to reach the memory; the
    /// firmware only calls this while that is the physical address (MMU off) or the linear map.
    fn clean_line_to_poc(&mut self, addr: u64);
    /// Invalidate the data cache line holding `addr` to the Point of Coherency (DCIMVAC): the
    /// next read goes to memory. Dirty data in the line is discarded: only for lines whose memory
    /// is the truth (written with the MMU off, or by another CPU with its MMU off).
    fn invalidate_line_to_poc(&mut self, addr: u64);
    /// [`Self::clean_line_to_poc`] for every line of `line` bytes (a power of two) that
    /// `[start, start + len)` touches, in ascending order. An implementation may loop on its own
    /// (the firmware does it in a few instructions per line) but must do exactly this.
    fn clean_range_to_poc(&mut self, start: u64, len: u64, line: u64) {
        each_line(start, len, line, |a| self.clean_line_to_poc(a));
    }
    /// [`Self::invalidate_line_to_poc`] for every line `[start, start + len)` touches, in
    /// ascending order (as [`Self::clean_range_to_poc`]).
    fn invalidate_range_to_poc(&mut self, start: u64, len: u64, line: u64) {
        each_line(start, len, line, |a| self.invalidate_line_to_poc(a));
    }
    /// Data memory barrier (full system): earlier accesses are observed before later ones.
    fn dmb(&mut self);
    /// Data synchronisation barrier (full system).
    fn dsb(&mut self);
    /// Instruction synchronisation barrier.
    fn isb(&mut self);
    /// Invalidate the whole instruction cache and branch predictor (ICIALLU, BPIALL).
    fn invalidate_icache(&mut self);
    /// Invalidate all HYP TLB entries on this CPU (TLBIALLH).
    fn tlbi_all_hyp(&mut self);
}

/// The start of every line of `line` bytes (a power of two) that `[start, start + len)` touches,
/// in ascending order.
pub fn each_line(start: u64, len: u64, line: u64, mut f: impl FnMut(u64)) {
    let mut a = start & !(line - 1);
    while a < start + len {
        f(a);
        a += line;
    }
}

/// Records operations instead of performing them, for tests.
#[cfg(test)]
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recorder {
    pub ops: std::vec::Vec<Op>,
}

#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Clean(u64),
    Inval(u64),
    Dmb,
    Dsb,
    Isb,
    ICacheInval,
    TlbiAllHyp,
    /// `mm::window::WindowControl`: HMAIR0/1, HTCR, HTTBR := root.
    LoadTables(u64),
    /// HSCTLR.M|C|I := 1.
    MmuCachesOn,
    /// HSCTLR.M|C|I := 0, then clean+invalidate all levels by set/way, in one sequence.
    MmuCachesOffCleanAll,
}

#[cfg(test)]
impl CacheMaintenance for Recorder {
    fn clean_line_to_poc(&mut self, addr: u64) {
        self.ops.push(Op::Clean(addr));
    }
    fn invalidate_line_to_poc(&mut self, addr: u64) {
        self.ops.push(Op::Inval(addr));
    }
    fn dmb(&mut self) {
        self.ops.push(Op::Dmb);
    }
    fn dsb(&mut self) {
        self.ops.push(Op::Dsb);
    }
    fn isb(&mut self) {
        self.ops.push(Op::Isb);
    }
    fn invalidate_icache(&mut self) {
        self.ops.push(Op::ICacheInval);
    }
    fn tlbi_all_hyp(&mut self) {
        self.ops.push(Op::TlbiAllHyp);
    }
}
