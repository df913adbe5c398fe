//! The firmware's allocator. Two phases, because the boot phase runs with the MMU off, where the
//! spin lock of a general-purpose heap (LDREX/STREX) is not guaranteed to work on Strongly-ordered
//! memory:
//! - boot phase (one CPU, MMU off): a bump allocator over the reserved region's heap area, for the
//!   device-tree rewrite; nothing is freed, and the runtime reuses the area;
//! - runtime (MMU and caches on): `linked_list_allocator`'s locked heap over the same area at its
//!   runtime VA.
//!
//! Each copy of the image has its own state: the boot copy only ever bumps, the runtime copy only
//! ever uses the locked heap.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::sync::atomic::{AtomicBool, Ordering};

pub struct FirmwareHeap {
    runtime: linked_list_allocator::LockedHeap,
    runtime_on: AtomicBool,
    bump_next: Cell<usize>,
    bump_end: Cell<usize>,
}

// SAFETY: the bump cells are used only by the boot CPU before any other CPU runs hypfw code (the
// boot phase); afterwards only the locked heap, which has its own lock, is used.
unsafe impl Sync for FirmwareHeap {}

#[global_allocator]
pub static HEAP: FirmwareHeap = FirmwareHeap {
    runtime: linked_list_allocator::LockedHeap::empty(),
    runtime_on: AtomicBool::new(false),
    bump_next: Cell::new(0),
    bump_end: Cell::new(0),
};

impl FirmwareHeap {
    /// Boot phase: allocate from `[start, start + len)` (physical addresses, MMU off).
    ///
    /// # Safety
    /// 1. the range is RAM that nothing else uses during the boot phase;
    /// 2. only one CPU runs hypfw code.
    pub unsafe fn init_boot(&self, start: usize, len: usize) {
        self.bump_next.set(start);
        self.bump_end.set(start + len);
    }

    /// Runtime: the locked heap over `[start, start + len)` (runtime VAs).
    ///
    /// # Safety
    /// 1. the range is mapped read-write in the current regime;
    /// 2. nothing else uses it for as long as the heap exists.
    pub unsafe fn init_runtime(&self, start: *mut u8, len: usize) {
        // SAFETY: obligations 1 and 2 are exactly Heap::init's (a mapped, writable range that
        // nothing else uses while the heap lives).
        unsafe { self.runtime.lock().init(start, len) };
        self.runtime_on.store(true, Ordering::Release);
    }

    /// Bytes in use in the runtime heap.
    pub fn runtime_used(&self) -> usize {
        self.runtime.lock().used()
    }
}

// SAFETY: the bump allocator hands out disjoint ranges aligned as asked, inside the range
// init_boot was given, and never reuses them; the runtime heap is linked_list_allocator's, which
// upholds GlobalAlloc itself.
unsafe impl GlobalAlloc for FirmwareHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.runtime_on.load(Ordering::Acquire) {
            // SAFETY: the caller upholds GlobalAlloc::alloc's contract, which this passes on.
            return unsafe { self.runtime.alloc(layout) };
        }
        let start = (self.bump_next.get() + layout.align() - 1) & !(layout.align() - 1);
        match start.checked_add(layout.size()) {
            Some(end) if end <= self.bump_end.get() && start != 0 => {
                self.bump_next.set(end);
                start as *mut u8
            }
            _ => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.runtime_on.load(Ordering::Acquire) {
            // SAFETY: the caller upholds GlobalAlloc::dealloc's contract (ptr came from this
            // allocator with this layout); the boot bump range is never handed to the runtime
            // heap, since the runtime copy of the image never bumps.
            unsafe { self.runtime.dealloc(ptr, layout) }
        }
        // Boot phase: never freed; the runtime takes the whole area over.
    }
}
