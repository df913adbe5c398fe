//! Memory management: address types, LPAE descriptors with the table builder and walker, the
//! payload's stage 2, the reserved region's layout, the frame allocator that hands out table pages,
//! the cache-maintenance operations, and the coherency rule for data that crosses a caches-on /
//! caches-off boundary, and the boot phase's cached window.

pub mod addr;
pub mod audit;
pub mod cache;
pub mod coherency;
pub mod frame;
pub mod layout;
pub mod pgtable;
pub mod stage2;
pub mod window;
