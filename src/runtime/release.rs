//! The payload's accesses to the page of the SoC's CPU release registers, which stage 2 leaves
//! out: writes to the registers are refused (the payload gets the external abort of a hole), the
//! rest is carried out on the device (`hypfw_core::services::release` decides which).

use super::access::Trapped;
use super::world::Pl1Context;
use crate::drivers::mmio as device;
use crate::log;
use crate::shared::ReleaseInfo;
use core::sync::atomic::{AtomicU32, Ordering};
use hypfw_core::services::release::{self, Decision};

/// Writes refused (all CPUs), for the rate limit of their lines.
static REFUSED: AtomicU32 = AtomicU32::new(0);

/// The payload's access `a` at `ipa` in the block's page: true when the runtime carried it out
/// (the payload resumes after it); false when the payload must get the external abort of a hole.
pub fn access(r: &ReleaseInfo, ctx: &mut Pl1Context, a: &Trapped, ipa: u64, cpu: u32) -> bool {
    // The VA of the page's first byte, plus the offset into it (`decide` checks `ipa` is in it).
    let at = r.va.wrapping_add((ipa - release::page(&r.block).base) as u32) as usize;
    // `decide` keeps a carried-out access inside the block's page, which the boot phase mapped as
    // device memory at `r.va` (`setup::tables::devices`), and aligned to its size.
    match release::decide(&r.block, ipa, a.size, a.write) {
        Decision::CarryOut if a.write => {
            // SAFETY: as above; the payload made this very write there.
            if !unsafe { device::write(at, a.size, a.stored(ctx)) } {
                return device_error(ctx, ipa, cpu);
            }
            a.done(ctx);
        }
        // SAFETY: as above; the payload made this very read there.
        Decision::CarryOut => match unsafe { device::read(at, a.size) } {
            Some(bytes) => a.loaded(ctx, bytes),
            None => return device_error(ctx, ipa, cpu),
        },
        Decision::Refuse => {
            let n = REFUSED.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if n <= 4 || n.is_multiple_of(256) {
                log!(
                    "cpu{cpu}: payload's write to the CPU release registers at {ipa:#x} refused: a CPU started so \
                     would escape stage 2 (PC {:#x}, #{n})",
                    ctx.elr
                );
            }
            return false;
        }
        Decision::Abort => return false,
    }
    true
}

/// Device errors on accesses carried out (all CPUs), for the rate limit of their lines.
static DEVICE_ERRORS: AtomicU32 = AtomicU32::new(0);

/// The device answered an access carried out for the payload with an error (a hole in the
/// page): the payload gets the external abort it would have got from the device; hypfw goes on.
#[cold]
fn device_error(ctx: &Pl1Context, ipa: u64, cpu: u32) -> bool {
    let n = DEVICE_ERRORS.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
    if n <= 4 || n.is_multiple_of(256) {
        log!("cpu{cpu}: the device answered the payload's access at {ipa:#x} with an error (PC {:#x}, #{n})", ctx.elr);
    }
    false
}
