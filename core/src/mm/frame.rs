//! The page pool the boot CPU takes page-table pages from: a bump allocator over a range of the
//! reserved region. Pages are never freed (the tables live as long as the system), so nothing
//! more is needed. Zeroing a page is the caller's business: this crate cannot write memory, and
//! the firmware's wrapper (`setup::tables`) zeroes each page as it hands it to the table builder.

use crate::mm::addr::{PAGE_SIZE, PhysAddr, align_up};

/// A bump allocator of naturally aligned page runs in `[next, end)`, and of tables smaller than a
/// page (HYP stage-1 roots), which share a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagePool {
    next: u64,
    end: u64,
    start: u64,
    /// The page small tables are taken from (None before the first), and its bytes taken so far.
    small_page: Option<u64>,
    small_used: u64,
}

impl PagePool {
    /// A pool over `[start, start + pages * PAGE_SIZE)`; `start` must be page aligned.
    pub const fn new(start: u64, pages: u64) -> Self {
        PagePool { next: start, end: start + pages * PAGE_SIZE, start, small_page: None, small_used: 0 }
    }

    /// `bytes` (a power of two, at most a page) aligned to their size, for a table smaller than a
    /// page: a HYP stage-1 root is 4 entries, 32 bytes (T0SZ = 0; HTTBR wants it 32-byte aligned).
    /// Successive ones share a page, the boot table's root and the runtime table's one page of the
    /// pool; a page is taken when the last one is full.
    pub fn take_small(&mut self, bytes: u64) -> Option<PhysAddr> {
        if !bytes.is_power_of_two() || bytes > PAGE_SIZE {
            return None;
        }
        let off = align_up(self.small_used, bytes);
        match self.small_page {
            Some(page) if off + bytes <= PAGE_SIZE => {
                self.small_used = off + bytes;
                Some(PhysAddr(page + off))
            }
            _ => {
                let page = self.take(1)?;
                (self.small_page, self.small_used) = (Some(page.0), bytes);
                Some(page)
            }
        }
    }

    /// `pages` contiguous pages aligned to their total size (a stage-2 root of two pages must be
    /// 8 KiB aligned), or None when the pool cannot hold them.
    pub fn take(&mut self, pages: u64) -> Option<PhysAddr> {
        if pages == 0 {
            return None;
        }
        let len = pages.checked_mul(PAGE_SIZE)?;
        let p = align_up(self.next, len.next_power_of_two());
        if p.checked_add(len)? > self.end {
            return None;
        }
        self.next = p + len;
        Some(PhysAddr(p))
    }

    /// Pages handed out so far, alignment gaps included.
    pub fn pages_used(&self) -> u64 {
        (self.next - self.start) / PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_pages_are_consecutive_and_runs_are_aligned() {
        let mut p = PagePool::new(0x4000_0000, 8);
        assert_eq!(p.take(1), Some(PhysAddr(0x4000_0000)));
        assert_eq!(p.take(2), Some(PhysAddr(0x4000_2000)), "a two-page run is 8 KiB aligned");
        assert_eq!(p.take(1), Some(PhysAddr(0x4000_4000)));
        assert_eq!(p.pages_used(), 5);
    }

    #[test]
    fn exhaustion_and_nonsense_requests_are_refused() {
        let mut p = PagePool::new(0x1000, 2);
        assert_eq!(p.take(0), None);
        assert_eq!(p.take(3), None);
        assert_eq!(p.take(1), Some(PhysAddr(0x1000)));
        assert_eq!(p.take(2), None, "the aligned run would pass the end");
        assert_eq!(p.take(1), Some(PhysAddr(0x2000)));
        assert_eq!(p.take(1), None);
        assert_eq!(p.take(u64::MAX), None);
    }

    /// Small tables share a page, each aligned to its size; pages for them come from the same
    /// bump as runs, and another is taken when one is full.
    #[test]
    fn small_tables_share_a_page() {
        let mut p = PagePool::new(0x4000_0000, 4);
        assert_eq!(p.take_small(32), Some(PhysAddr(0x4000_0000)));
        assert_eq!(p.take(1), Some(PhysAddr(0x4000_1000)));
        assert_eq!(p.take_small(32), Some(PhysAddr(0x4000_0020)), "the second root shares the first's page");
        assert_eq!(p.take_small(64), Some(PhysAddr(0x4000_0040)), "aligned to its size");
        assert_eq!(p.pages_used(), 2);
        assert_eq!(p.take_small(0x1000), Some(PhysAddr(0x4000_2000)), "no room left: a new page");
        assert_eq!(p.take_small(32), Some(PhysAddr(0x4000_3000)));
        assert_eq!(p.take_small(32), Some(PhysAddr(0x4000_3020)));
        assert_eq!(p.take_small(48), None, "not a power of two");
        assert_eq!(p.take_small(0x2000), None, "more than a page");
        assert_eq!(p.take(1), None);
    }

    proptest! {
        /// Whatever is asked, runs never overlap, stay in the pool and are aligned to their size.
        #[test]
        fn runs_are_disjoint_aligned_and_inside(reqs in proptest::collection::vec(0u64..5, 0..40), pages in 1u64..64) {
            let base = 0x8000_0000u64;
            let mut p = PagePool::new(base, pages);
            let mut got: Vec<(u64, u64)> = Vec::new();
            for n in reqs {
                if let Some(a) = p.take(n) {
                    let len = n * PAGE_SIZE;
                    prop_assert!(a.0 >= base && a.0 + len <= base + pages * PAGE_SIZE);
                    prop_assert_eq!(a.0 % len.next_power_of_two(), 0);
                    for &(s, l) in &got {
                        prop_assert!(a.0 + len <= s || s + l <= a.0);
                    }
                    got.push((a.0, len));
                }
            }
        }
    }
}
