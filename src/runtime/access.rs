//! A load or store of the payload's that stage 2 trapped and the runtime carries out for it
//! (`fwcfg`, `release`): decoded once from the syndrome, its transfer register found in the saved
//! context or banked in the mode the payload made it in, and finished by writing a load's value
//! there and stepping over the instruction.

use super::world::Pl1Context;
use crate::arch::regs;
use hypfw_core::services::hsr::{self, Hsr};
use hypfw_core::services::mmio::{self, RegLoc};

/// One trapped access the syndrome describes (`mmio::decode`).
pub struct Trapped {
    /// 1, 2 or 4 bytes.
    pub size: u32,
    pub write: bool,
    reg: RegLoc,
    big_endian: bool,
    sign_extend: bool,
    insn_len: u32,
}

impl Trapped {
    /// None when the syndrome does not describe the access (the payload then gets the abort).
    pub fn decode(ctx: &Pl1Context, h: Hsr) -> Option<Self> {
        let a = mmio::decode(h)?;
        Some(Trapped {
            size: a.size,
            write: a.write,
            reg: mmio::locate(ctx.spsr, a.reg)?,
            big_endian: mmio::big_endian(ctx.spsr),
            sign_extend: a.sign_extend,
            insn_len: a.insn_len,
        })
    }

    /// The transfer register as the payload holds it (a store's value).
    pub fn register(&self, ctx: &Pl1Context) -> u32 {
        match self.reg {
            RegLoc::Saved(i) => ctx.r[i],
            RegLoc::LrUsr => ctx.lr_usr,
            RegLoc::Banked(b) => regs::read_banked(b),
        }
    }

    /// A store's bytes in address order (`size` of them), as the payload's endianness puts them.
    pub fn stored(&self, ctx: &Pl1Context) -> [u8; 4] {
        mmio::store_bytes(self.register(ctx), self.size, self.big_endian)
    }

    /// A load done: `bytes` (in address order, `size` of them) into the transfer register, and
    /// past the instruction.
    pub fn loaded(&self, ctx: &mut Pl1Context, bytes: [u8; 4]) {
        let v = mmio::load_value(bytes, self.size, self.big_endian, self.sign_extend);
        match self.reg {
            RegLoc::Saved(i) => ctx.r[i] = v,
            RegLoc::LrUsr => ctx.lr_usr = v,
            // SAFETY: from HYP, the payload's own register of the mode it made the load in, given
            // the value the load returns: what the payload finds there when it resumes after it.
            RegLoc::Banked(b) => unsafe { regs::write_banked(b, v) },
        }
        self.done(ctx);
    }

    /// A store done: past the instruction.
    pub fn done(&self, ctx: &mut Pl1Context) {
        ctx.elr = ctx.elr.wrapping_add(self.insn_len);
        ctx.spsr = hsr::spsr_after_skip(ctx.spsr);
    }
}
