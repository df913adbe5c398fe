//! The page pool the boot CPU takes page-table pages from: a bump allocator over a range of the
//! reserved region. Pages are never freed (the tables live as long as the system), so nothing
//! more is needed. Zeroing a page is the caller's business: this crate cannot write memory, and
//! the firmware's wrapper (`setup::tables`) zeroes each page as it hands it to the table builder.

use crate::mm::addr::{PAGE_SIZE, PhysAddr, align_up};

/// A bump allocator of naturally aligned page runs in `[next, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagePool {
    next: u64,
    end: u64,
    start: u64,
}

impl PagePool {
    /// A pool over `[start, start + pages * PAGE_SIZE)`; `start` must be page aligned.
    pub const fn new(start: u64, pages: u64) -> Self {
        PagePool { next: start, end: start + pages * PAGE_SIZE, start }
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
