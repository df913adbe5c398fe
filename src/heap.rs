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

// SAFETY: the bump cells are only used by the boot CPU before any other CPU runs hypfw code;
// afterwards only the locked heap is used.
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
    /// The range must be RAM nothing else uses during the boot phase; one CPU only.
    pub unsafe fn init_boot(&self, start: usize, len: usize) {
        self.bump_next.set(start);
        self.bump_end.set(start + len);
    }

    /// Runtime: the locked heap over `[start, start + len)` (runtime VAs).
    ///
    /// # Safety
    /// The range must be mapped read-write and used by nothing else.
    pub unsafe fn init_runtime(&self, start: *mut u8, len: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.runtime.lock().init(start, len) };
        self.runtime_on.store(true, Ordering::Release);
    }

    /// Bytes in use in the runtime heap.
    pub fn runtime_used(&self) -> usize {
        self.runtime.lock().used()
    }
}

// SAFETY: the bump allocator hands out disjoint, aligned ranges and never reuses them; the
// runtime heap is linked_list_allocator's.
unsafe impl GlobalAlloc for FirmwareHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.runtime_on.load(Ordering::Acquire) {
            // SAFETY: forwarded.
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
            // SAFETY: forwarded.
            unsafe { self.runtime.dealloc(ptr, layout) }
        }
        // Boot phase: never freed; the runtime takes the whole area over.
    }
}
