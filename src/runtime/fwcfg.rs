//! The payload's accesses to QEMU's fw_cfg page, which stage 2 leaves out: the runtime carries
//! out selector writes and data reads from the abort's syndrome, and refuses the DMA register
//! (why, and exactly what passes: `hypfw_core::services::fwcfg`). Only QEMU virt describes a
//! fw_cfg; elsewhere `PayloadInfo::fw_cfg` is None and nothing here runs.
//!
//! One lock serialises the device and the runtime's record of its position (selected item and
//! offset), so that CPUs reading fw_cfg at once see what the device alone would give them.

use super::world::Pl1Context;
use crate::arch::regs;
use crate::drivers::fwcfg::FwCfg;
use crate::log;
use crate::shared::FwCfgInfo;
use core::sync::atomic::{AtomicU32, Ordering};
use hypfw_core::services::fwcfg::{self, Decision, State};
use hypfw_core::services::hsr::Hsr;
use hypfw_core::services::mmio::{self, RegLoc};

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

/// A stage-2 data abort at `ipa`: true when it was an access to fw_cfg's page that the runtime
/// carried out (the payload resumes after the instruction); false when the payload must get the
/// external abort of a hole (any other address, a refused DMA request, an access that cannot or
/// must not be emulated).
pub fn data_abort(f: &FwCfgInfo, ctx: &mut Pl1Context, h: Hsr, ipa: u64, cpu: u32) -> bool {
    if !(f.page.base <= ipa && ipa < f.page.end()) {
        return false;
    }
    let Some(a) = mmio::decode(h) else { return false };
    let Some(reg) = mmio::locate(ctx.spsr, a.reg) else { return false };
    let be = mmio::big_endian(ctx.spsr);
    let offset = ipa.checked_sub(f.base);
    let stored = if a.write { mmio::store_bytes(get(ctx, reg), a.size, be) } else { [0; 4] };
    match fwcfg::decide(offset, a.size, a.write, stored) {
        Decision::ReadData { size } => {
            let bytes = {
                let mut s = STATE.lock();
                let mut b = device(f).read_data(size);
                s.data_read(&mut b[..size as usize]);
                b
            };
            let v = mmio::load_value(&bytes[..size as usize], be, a.sign_extend);
            set(ctx, reg, v);
        }
        Decision::Select { bytes } => {
            let mut s = STATE.lock();
            device(f).select(bytes);
            s.select(bytes);
        }
        Decision::DropWrite => {}
        Decision::Dma { write: true } => {
            let n = DMA_REFUSED.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if n <= 4 || n.is_multiple_of(256) {
                log!(
                    "cpu{cpu}: payload's fw_cfg DMA request refused: {}-byte write of {:#x} to the DMA address register \
                     at {ipa:#x} (PC {:#x}); QEMU would copy to or from any physical address, hypfw's included \
                     (#{n} refused)",
                    a.size,
                    get(ctx, reg),
                    ctx.elr
                );
            }
            return false;
        }
        Decision::Dma { write: false } | Decision::Abort => return false,
    }
    EMULATED.fetch_add(1, Ordering::Relaxed);
    ctx.elr = ctx.elr.wrapping_add(a.insn_len);
    ctx.spsr = hypfw_core::services::hsr::spsr_after_skip(ctx.spsr);
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

fn get(ctx: &Pl1Context, r: RegLoc) -> u32 {
    match r {
        RegLoc::Saved(i) => ctx.r[i],
        RegLoc::LrUsr => ctx.lr_usr,
        RegLoc::Banked(b) => regs::read_banked(b),
    }
}

fn set(ctx: &mut Pl1Context, r: RegLoc, v: u32) {
    match r {
        RegLoc::Saved(i) => ctx.r[i] = v,
        RegLoc::LrUsr => ctx.lr_usr = v,
        // SAFETY: from HYP, the payload's own register of the mode it made the load in, given the
        // value the load returns: what the payload finds there when it resumes after the load.
        RegLoc::Banked(b) => unsafe { regs::write_banked(b, v) },
    }
}
