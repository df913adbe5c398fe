//! The cache, TLB and barrier operations that page-table publication and the MMU switch need,
//! behind a trait so their *order* can be checked on the host: QEMU does not model caches, so a
//! missing clean or a barrier in the wrong place would pass every boot test and fail on a board.

/// Size of the cache line that clean-by-address operations work on. Cortex-A15 and A7 have
/// 64-byte lines (CTR.DminLine = 4); the real implementation reads CTR, this is the unit the
/// page-table code tracks dirty lines in, which must not be larger than the real line.
pub const TRACK_LINE: u64 = 64;

pub trait CacheMaintenance {
    /// Clean the data cache line holding physical address `pa` to the Point of Coherency
    /// (DCCMVAC). The address is the one the current code uses to reach the memory; the
    /// firmware only calls this while that is the physical address (MMU off) or the linear map.
    fn clean_line_to_poc(&mut self, addr: u64);
    /// Data synchronisation barrier (full system).
    fn dsb(&mut self);
    /// Instruction synchronisation barrier.
    fn isb(&mut self);
    /// Invalidate the whole instruction cache and branch predictor (ICIALLU, BPIALL).
    fn invalidate_icache(&mut self);
    /// Invalidate all HYP TLB entries on this CPU (TLBIALLH).
    fn tlbi_all_hyp(&mut self);
}

/// Clean every line of `[start, start + len)` to the Point of Coherency, then DSB.
pub fn clean_range_to_poc<C: CacheMaintenance + ?Sized>(c: &mut C, start: u64, len: u64, line: u64) {
    let mut a = start & !(line - 1);
    while a < start + len {
        c.clean_line_to_poc(a);
        a += line;
    }
    c.dsb();
}

/// The sequence after code has been written to memory (image copy, relocation): make the new
/// bytes visible to instruction fetch.
pub fn sync_code_range<C: CacheMaintenance + ?Sized>(c: &mut C, start: u64, len: u64, line: u64) {
    clean_range_to_poc(c, start, len, line);
    c.invalidate_icache();
    c.dsb();
    c.isb();
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
    Dsb,
    Isb,
    ICacheInval,
    TlbiAllHyp,
}

#[cfg(test)]
impl CacheMaintenance for Recorder {
    fn clean_line_to_poc(&mut self, addr: u64) {
        self.ops.push(Op::Clean(addr));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_range_covers_every_line_then_dsb() {
        let mut r = Recorder::default();
        clean_range_to_poc(&mut r, 0x1030, 0x90, 64);
        assert_eq!(r.ops, vec![Op::Clean(0x1000), Op::Clean(0x1040), Op::Clean(0x1080), Op::Dsb]);
    }

    /// Code written through the D-side must reach the PoC before the I-cache is invalidated, and
    /// the invalidation must complete (DSB) before the next fetch (ISB).
    #[test]
    fn code_sync_order() {
        let mut r = Recorder::default();
        sync_code_range(&mut r, 0x4000_0000, 0x80, 64);
        assert_eq!(
            r.ops,
            vec![Op::Clean(0x4000_0000), Op::Clean(0x4000_0040), Op::Dsb, Op::ICacheInval, Op::Dsb, Op::Isb]
        );
    }
}
