//! The coherency rule, in one place. QEMU models no caches, so every datum that crosses a
//! caches-on / caches-off boundary goes through one of these sequences, each tested here through
//! the recording trait (a missing or misplaced operation fails a test, not a board):
//!
//! | crossing | writer side | reader side |
//! |---|---|---|
//! | written with the MMU off, read through a cacheable mapping (the image copy, page tables, `InitParams`/`BootInfo`, the payload, its initrd and tree) | [`written_uncached`] / [`code_written_uncached`] by the writer | nothing more |
//! | written with caches on, read by a CPU with its MMU off (resume slots, pen release words) | [`publish`] | nothing more |
//! | written by a CPU with its MMU off, read with caches on (pen status, a resume slot the torn-down stub filled) | nothing (the MMU is off) | [`before_read`]; a mailbox whose reader also writes it back goes through [`take_pending`] |
//!
//! ARM DDI 0406C B2.2.6 (cache maintenance by address, to the Point of Coherency), B2.2.7 (data
//! written with the MMU off is Non-cacheable: memory holds it, a stale line may not), B3.10.1.

use crate::mm::cache::CacheMaintenance;

/// Data written with the MMU off (so straight to memory) that will be read through a cacheable
/// mapping: a stale line for the same address (a bootloader's leftover, a speculative fill) would
/// hide it. DMB (the writes are complete), invalidate every line to the PoC, DSB.
pub fn written_uncached<C: CacheMaintenance + ?Sized>(c: &mut C, start: u64, len: u64, line: u64) {
    c.dmb();
    c.invalidate_range_to_poc(start, len, line);
    c.dsb();
}

/// Code written with the MMU off (the image copy and its relocation, the payload): as
/// [`written_uncached`], then the instruction cache and branch predictor invalidated (fetches with
/// the I-cache on may have allocated old contents), DSB, ISB.
pub fn code_written_uncached<C: CacheMaintenance + ?Sized>(c: &mut C, start: u64, len: u64, line: u64) {
    written_uncached(c, start, len, line);
    c.invalidate_icache();
    c.dsb();
    c.isb();
}

/// Data written with the caches on that a CPU will read with its MMU off: clean every line to the
/// PoC, DSB.
pub fn publish<C: CacheMaintenance + ?Sized>(c: &mut C, start: u64, len: u64, line: u64) {
    c.clean_range_to_poc(start, len, line);
    c.dsb();
}

/// About to read, with the caches on, data a CPU wrote with its MMU off: invalidate every line
/// first (memory is the truth; the caller has no dirty data of its own in them), DSB.
pub fn before_read<C: CacheMaintenance + ?Sized>(c: &mut C, start: u64, len: u64, line: u64) {
    c.invalidate_range_to_poc(start, len, line);
    c.dsb();
}

/// A mailbox with a "pending" word: written by a CPU with its MMU off, consumed with the caches on.
pub trait Pending {
    fn pending(&mut self) -> bool;
    fn clear(&mut self);
}

/// Consume a pending mailbox at `[start, start + len)`: read it from memory; if it is pending,
/// clear it and make the clear reach memory, so that a later reader with its MMU off (or a
/// re-entry that invalidates the line) never sees the old "pending" again. Returns whether it
/// was pending (the caller then reads the rest of the mailbox, which `before_read` made fresh).
pub fn take_pending<C: CacheMaintenance + ?Sized, P: Pending + ?Sized>(
    c: &mut C,
    p: &mut P,
    start: u64,
    len: u64,
    line: u64,
) -> bool {
    before_read(c, start, len, line);
    if !p.pending() {
        return false;
    }
    p.clear();
    publish(c, start, len, line);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::cache::{Op, Recorder};
    use std::vec;

    #[test]
    fn uncached_writes_are_invalidated_after_a_dmb() {
        let mut r = Recorder::default();
        written_uncached(&mut r, 0x1030, 0x50, 64);
        assert_eq!(r.ops, vec![Op::Dmb, Op::Inval(0x1000), Op::Inval(0x1040), Op::Dsb]);
    }

    /// Code: the data side first, then the instruction side, each completed before the next.
    #[test]
    fn uncached_code_also_drops_instruction_fetches() {
        let mut r = Recorder::default();
        code_written_uncached(&mut r, 0x4000_0000, 0x40, 64);
        assert_eq!(r.ops, vec![Op::Dmb, Op::Inval(0x4000_0000), Op::Dsb, Op::ICacheInval, Op::Dsb, Op::Isb]);
    }

    #[test]
    fn published_data_is_cleaned_then_waited_for() {
        let mut r = Recorder::default();
        publish(&mut r, 0x2000, 0x80, 64);
        assert_eq!(r.ops, vec![Op::Clean(0x2000), Op::Clean(0x2040), Op::Dsb]);
    }

    /// A recorder that also logs the mailbox accesses, so their order against the maintenance
    /// shows.
    #[derive(Default)]
    struct Mailbox {
        pending: bool,
        log: Vec<&'static str>,
        rec: Recorder,
    }
    impl Pending for Mailbox {
        fn pending(&mut self) -> bool {
            self.log.push("read");
            self.pending
        }
        fn clear(&mut self) {
            self.log.push("clear");
            self.pending = false;
        }
    }

    /// The stale-resume bug: clearing "pending" with the caches on and not cleaning it left the
    /// old 1 in memory for the next MMU-off reader. The clear must be followed by a clean.
    #[test]
    fn a_consumed_mailbox_is_cleared_in_memory() {
        let mut m = Mailbox { pending: true, ..Default::default() };
        let mut rec = Recorder::default();
        assert!(take_pending(&mut rec, &mut m, 0x3000, 0x80, 64));
        assert_eq!(m.log, vec!["read", "clear"]);
        // Invalidate before the read, clean after the clear.
        assert_eq!(
            rec.ops,
            vec![Op::Inval(0x3000), Op::Inval(0x3040), Op::Dsb, Op::Clean(0x3000), Op::Clean(0x3040), Op::Dsb]
        );
        let mut idle = Mailbox::default();
        let mut rec = Recorder::default();
        assert!(!take_pending(&mut rec, &mut idle, 0x3000, 0x40, 64));
        assert_eq!(rec.ops, vec![Op::Inval(0x3000), Op::Dsb], "nothing written, nothing cleaned");
        let _ = &m.rec;
    }
}
