//! Memory management: address types, LPAE descriptors with the table builder and walker, the
//! payload's stage 2, the reserved region's layout, the frame allocator that hands out table pages,
//! and the cache-maintenance operations publication needs.

pub mod addr;
pub mod cache;
pub mod frame;
pub mod layout;
pub mod pgtable;
pub mod stage2;
