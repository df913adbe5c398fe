//! The payload's accesses to QEMU's fw_cfg page, which stage 2 leaves out: the runtime carries
//! out selector writes and data reads from the abort's syndrome, and refuses the DMA register
//! (why, and exactly what passes: `hypfw_core::services::fwcfg`). Only QEMU virt describes a
//! fw_cfg; elsewhere `PayloadInfo::fw_cfg` is None and nothing here runs.
//!
//! One lock serialises the device and the runtime's record of its position (selected item and
//! offset), so that CPUs reading fw_cfg at once see what the device alone would give them.

use super::access::Trapped;
use super::world::Pl1Context;
use crate::drivers::fwcfg::FwCfg;
use crate::log;
use crate::shared::FwCfgInfo;
use core::sync::atomic::{AtomicU32, Ordering};
use hypfw_core::services::fwcfg::{self, Decision, State};

static STATE: spin::Mutex<State> = spin::Mutex::new(State::AFTER_RESET);
/// Accesses carried out for the payload, and DMA requests refused (all CPUs).
static EMULATED: AtomicU32 = AtomicU32::new(0);
static DMA_REFUSED: AtomicU32 = AtomicU32::new(0);

fn device(f: &FwCfgInfo) -> FwCfg {
    // SAFETY: the boot phase mapped fw_cfg's page in the runtime table as device memory and put
    // its VA here (`setup::tables::devices`, `setup::payload::prepare`).
    unsafe { FwCfg::new(f.va as usize) }
}

/// Before the payload first runs: select the signature item, as QEMU's reset does, so that the
/// runtime's record of the device's position is exact whatever a bootloader left selected.
pub fn reset(f: &FwCfgInfo) {
    let mut s = STATE.lock();
    device(f).select(fwcfg::KEY_SIGNATURE.to_be_bytes());
    *s = State::AFTER_RESET;
}

/// The payload's access `a` at `ipa` in fw_cfg's page: true when the runtime carried it out (the
/// payload resumes after it); false when the payload must get the external abort of a hole (a
/// refused DMA request, an access the device would reject).
pub fn access(f: &FwCfgInfo, ctx: &mut Pl1Context, a: &Trapped, ipa: u64, cpu: u32) -> bool {
    let offset = ipa.checked_sub(f.base);
    let stored = if a.write { a.stored(ctx) } else { [0; 4] };
    match fwcfg::decide(offset, a.size, a.write, stored) {
        Decision::ReadData { size } => {
            let bytes = {
                let mut s = STATE.lock();
                // A device error (not QEMU's fw_cfg, whose registers answer): the payload's abort.
                let Some(mut b) = device(f).read_data(size) else { return false };
                s.data_read(&mut b[..size as usize]);
                b
            };
            a.loaded(ctx, bytes);
        }
        Decision::Select { bytes } => {
            let mut s = STATE.lock();
            device(f).select(bytes);
            s.select(bytes);
            a.done(ctx);
        }
        Decision::DropWrite => a.done(ctx),
        Decision::Dma { write: true } => {
            let n = DMA_REFUSED.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if n <= 4 || n.is_multiple_of(256) {
                log!(
                    "cpu{cpu}: payload's fw_cfg DMA request refused: {}-byte write of {:#x} to the DMA address register \
                     at {ipa:#x} (PC {:#x}); QEMU would copy to or from any physical address, hypfw's included \
                     (#{n} refused)",
                    a.size,
                    a.register(ctx),
                    ctx.elr
                );
            }
            return false;
        }
        Decision::Dma { write: false } | Decision::Abort => return false,
    }
    EMULATED.fetch_add(1, Ordering::Relaxed);
    true
}

/// The counts for the report at power-off.
pub fn report(f: &FwCfgInfo) {
    log!(
        "fw_cfg at {:#x}: {} accesses carried out for the payload, {} DMA requests refused",
        f.base,
        EMULATED.load(Ordering::Relaxed),
        DMA_REFUSED.load(Ordering::Relaxed)
    );
}
