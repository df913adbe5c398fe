//! Carrying out a payload's load or store to a register hypfw keeps out of stage 2, from the
//! data abort's syndrome alone (ARM DDI 0406C B3.13.6, ISS of EC 0x24 "data abort from a lower
//! mode"): when ISV is set, the syndrome gives the access size (SAS), the direction (WnR), the
//! register (SRT), whether a load sign-extends (SSE) and the instruction length (IL). ARMv7 sets
//! ISV only for single-register loads and stores without writeback (LDR/STR/LDRB/STRB/LDRH/STRH
//! and their sign-extending forms); LDM/STM, LDRD/STRD and writeback forms give no syndrome, so
//! hypfw cannot emulate them and treats them as an access into a hole.

use crate::abi::bits::{Mode, Psr};
use crate::services::hsr::{self, Hsr};

/// One trapped load or store, as the syndrome describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataAccess {
    /// 1, 2 or 4 bytes.
    pub size: u32,
    pub write: bool,
    /// The transfer register, r0..r14 of the mode the access was made in.
    pub reg: u8,
    /// A load sign-extends the value (LDRSB, LDRSH).
    pub sign_extend: bool,
    /// Bytes to step over: 4 for an ARM or 32-bit Thumb instruction, 2 for a 16-bit Thumb one.
    pub insn_len: u32,
}

/// The access of a data abort from a lower mode, or None when the syndrome does not describe it
/// (ISV clear, a doubleword size, or the PC as the transfer register) or when the fault was the
/// payload's stage-1 table walk, not its instruction (S1PTW: a walk through an emulated page is
/// never carried out, whatever ISV says).
pub fn decode(h: Hsr) -> Option<DataAccess> {
    if h.ec() != hsr::EC_DABT_LOWER || h.0 & (1 << 24) == 0 || h.on_stage1_walk() {
        return None;
    }
    let size = match (h.0 >> 22) & 3 {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => return None,
    };
    let reg = ((h.0 >> 16) & 0xF) as u8;
    if reg == 15 {
        return None;
    }
    Some(DataAccess {
        size,
        write: h.is_write(),
        reg,
        sign_extend: h.0 & (1 << 21) != 0,
        insn_len: if h.il() { 4 } else { 2 },
    })
}

/// A register of another mode that the runtime reaches with MRS/MSR (banked) from HYP
/// (B9.3.9, B9.3.12): HYP code never uses these itself, so they still hold the payload's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Banked {
    SpUsr,
    R8Fiq,
    R9Fiq,
    R10Fiq,
    R11Fiq,
    R12Fiq,
    SpFiq,
    LrFiq,
    SpIrq,
    LrIrq,
    SpSvc,
    LrSvc,
    SpAbt,
    LrAbt,
    SpUnd,
    LrUnd,
}

/// Where the payload's register `reg` of the mode in `psr` is while the runtime handles its exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegLoc {
    /// `Pl1Context::r[i]`, saved by the world switch (r0-r12 of every mode but FIQ's r8-r12).
    Saved(usize),
    /// `Pl1Context::lr_usr` (HYP shares LR with User and System mode, so the switch saves it).
    LrUsr,
    Banked(Banked),
}

/// The location of `reg` (0..=14) for an access made in the mode of `psr`; None for r15, or for
/// a mode the payload cannot be in (HYP, Monitor, an invalid encoding).
pub fn locate(psr: u32, reg: u8) -> Option<RegLoc> {
    use Banked::*;
    let mode = Mode::of(psr)?;
    let (sp, lr) = match mode {
        Mode::Usr | Mode::Sys => (SpUsr, None),
        Mode::Fiq => (SpFiq, Some(LrFiq)),
        Mode::Irq => (SpIrq, Some(LrIrq)),
        Mode::Svc => (SpSvc, Some(LrSvc)),
        Mode::Abt => (SpAbt, Some(LrAbt)),
        Mode::Und => (SpUnd, Some(LrUnd)),
        Mode::Hyp | Mode::Mon => return None,
    };
    Some(match reg {
        8..=12 if mode == Mode::Fiq => RegLoc::Banked([R8Fiq, R9Fiq, R10Fiq, R11Fiq, R12Fiq][reg as usize - 8]),
        0..=12 => RegLoc::Saved(reg as usize),
        13 => RegLoc::Banked(sp),
        14 => lr.map_or(RegLoc::LrUsr, RegLoc::Banked),
        _ => return None,
    })
}

/// The payload accesses data big-endian (CPSR.E).
pub fn big_endian(psr: u32) -> bool {
    psr & Psr::E.bits() != 0
}

/// The bytes a store of `value` puts on the bus, in address order (the first `size` are used).
pub fn store_bytes(value: u32, size: u32, big_endian: bool) -> [u8; 4] {
    // Big-endian: the access's most significant byte first, from the register's low `size` bytes.
    let shift = 32 - 8 * size.clamp(1, 4);
    if big_endian { (value << shift).swap_bytes() } else { value }.to_le_bytes()
}

/// The register value a load of `size` bytes (the first `size` of `bytes`, address order) gives,
/// with the load's sign extension. (Shifts and masks, no slicing: the runtime carries loads out
/// with this, and it has no panic path.)
pub fn load_value(bytes: [u8; 4], size: u32, big_endian: bool, sign_extend: bool) -> u32 {
    let shift = 32 - 8 * size.clamp(1, 4);
    let v = u32::from_le_bytes(bytes);
    let v = if big_endian { v.swap_bytes() >> shift } else { v << shift >> shift };
    if sign_extend { ((v << shift) as i32 >> shift) as u32 } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data abort from a lower mode with ISV and the given SAS/SSE/SRT/WnR/IL.
    fn dabt(sas: u32, sse: bool, srt: u32, write: bool, il: bool) -> Hsr {
        Hsr((hsr::EC_DABT_LOWER << 26)
            | (il as u32) << 25
            | 1 << 24
            | sas << 22
            | (sse as u32) << 21
            | srt << 16
            | (write as u32) << 6
            | 0x07)
    }

    #[test]
    fn decodes_the_syndrome() {
        assert_eq!(
            decode(dabt(0, false, 3, false, true)),
            Some(DataAccess { size: 1, write: false, reg: 3, sign_extend: false, insn_len: 4 })
        );
        assert_eq!(
            decode(dabt(1, false, 14, true, false)),
            Some(DataAccess { size: 2, write: true, reg: 14, sign_extend: false, insn_len: 2 })
        );
        assert_eq!(decode(dabt(2, false, 0, false, true)).map(|a| a.size), Some(4));
        assert_eq!(decode(dabt(0, true, 1, false, true)).map(|a| a.sign_extend), Some(true));
        // The whole word for `strh r1, [r0]` in ARM state (IL, ISV, SAS 1, SRT 1, WnR, stage-2
        // translation fault at level 3).
        assert_eq!(
            decode(Hsr(0x9341_0047)),
            Some(DataAccess { size: 2, write: true, reg: 1, sign_extend: false, insn_len: 4 })
        );
    }

    #[test]
    fn no_syndrome_no_emulation() {
        let h = dabt(2, false, 0, false, true);
        assert_eq!(decode(Hsr(h.0 & !(1 << 24))), None, "ISV clear (LDM, LDRD, writeback)");
        assert_eq!(decode(dabt(3, false, 0, false, true)), None, "doubleword SAS");
        assert_eq!(decode(dabt(2, false, 15, false, true)), None, "PC");
        assert_eq!(decode(Hsr((hsr::EC_DABT_HYP << 26) | h.0 & 0x03FF_FFFF)), None, "not from a lower mode");
        assert_eq!(decode(Hsr(h.0 | 1 << 7)), None, "a stage-1 table walk (S1PTW), not the access");
        assert!(decode(h).is_some());
    }

    #[test]
    fn registers_by_mode() {
        use Banked::*;
        let svc = Mode::Svc.bits() | 0x1C0;
        assert_eq!(locate(svc, 0), Some(RegLoc::Saved(0)));
        assert_eq!(locate(svc, 12), Some(RegLoc::Saved(12)));
        assert_eq!(locate(svc, 13), Some(RegLoc::Banked(SpSvc)));
        assert_eq!(locate(svc, 14), Some(RegLoc::Banked(LrSvc)));
        assert_eq!(locate(svc, 15), None);
        for m in [Mode::Usr, Mode::Sys] {
            assert_eq!(locate(m.bits(), 13), Some(RegLoc::Banked(SpUsr)));
            assert_eq!(locate(m.bits(), 14), Some(RegLoc::LrUsr));
            assert_eq!(locate(m.bits(), 8), Some(RegLoc::Saved(8)));
        }
        let fiq = Mode::Fiq.bits();
        assert_eq!(locate(fiq, 7), Some(RegLoc::Saved(7)));
        assert_eq!(locate(fiq, 8), Some(RegLoc::Banked(R8Fiq)));
        assert_eq!(locate(fiq, 12), Some(RegLoc::Banked(R12Fiq)));
        assert_eq!(locate(fiq, 14), Some(RegLoc::Banked(LrFiq)));
        assert_eq!(locate(Mode::Abt.bits(), 13), Some(RegLoc::Banked(SpAbt)));
        assert_eq!(locate(Mode::Und.bits(), 14), Some(RegLoc::Banked(LrUnd)));
        assert_eq!(locate(Mode::Irq.bits(), 14), Some(RegLoc::Banked(LrIrq)));
        assert_eq!(locate(Mode::Hyp.bits(), 0), None);
        assert_eq!(locate(Mode::Mon.bits(), 0), None);
        assert_eq!(locate(0x15, 0), None);
    }

    #[test]
    fn byte_order_and_sign_extension() {
        assert_eq!(store_bytes(0x0100, 2, false)[..2], [0x00, 0x01]);
        assert_eq!(store_bytes(0x0100, 2, true)[..2], [0x01, 0x00]);
        assert_eq!(store_bytes(0x1122_3344, 4, true), [0x11, 0x22, 0x33, 0x44]);
        assert_eq!(load_value(*b"QEMU", 4, false, false), u32::from_le_bytes(*b"QEMU"));
        assert_eq!(load_value(*b"QEMU", 4, true, false), u32::from_be_bytes(*b"QEMU"));
        assert_eq!(load_value([0x80, 9, 9, 9], 1, false, false), 0x80, "bytes past the size ignored");
        assert_eq!(load_value([0x80, 9, 9, 9], 1, true, false), 0x80);
        assert_eq!(load_value([0x80, 0, 0, 0], 1, false, true), 0xFFFF_FF80);
        assert_eq!(load_value([0x34, 0x82, 9, 9], 2, false, true), 0xFFFF_8234);
        assert_eq!(load_value([0x82, 0x34, 9, 9], 2, true, true), 0xFFFF_8234);
        assert_eq!(load_value([0x34, 0x72, 0, 0], 2, false, true), 0x7234);
        assert_eq!(load_value([0x34, 0x72, 0, 0], 2, true, false), 0x3472);
        assert_eq!(load_value([0xFF; 4], 4, false, true), u32::MAX);
        assert_eq!(store_bytes(0x1122_3344, 1, true)[0], 0x44, "a byte store is its low byte");
        assert_eq!(store_bytes(0xAABB, 2, true)[..2], [0xAA, 0xBB]);
    }
}
