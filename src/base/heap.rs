//! The firmware's allocator: `linked_list_allocator`'s locked heap over the reserved region's heap
//! area at its runtime VA, set up by the runtime (MMU and caches on, where its spin lock works).
//! Nothing in hypfw allocates today (the payload's device tree is spliced in place, without a
//! heap); the heap stays for what the runtime may need, and its use is reported by the self-test.

/// The runtime's heap.
#[global_allocator]
pub static HEAP: linked_list_allocator::LockedHeap = linked_list_allocator::LockedHeap::empty();

/// Runtime: the heap over `[start, start + len)` (runtime VAs).
///
/// # Safety
/// 1. the range is mapped read-write in the current regime;
/// 2. nothing else uses it for as long as the heap exists.
pub unsafe fn init_runtime(start: *mut u8, len: usize) {
    // SAFETY: obligations 1 and 2 are exactly Heap::init's (a mapped, writable range that nothing
    // else uses while the heap lives).
    unsafe { HEAP.lock().init(start, len) };
}

/// Bytes in use in the runtime heap.
pub fn runtime_used() -> usize {
    HEAP.lock().used()
}
