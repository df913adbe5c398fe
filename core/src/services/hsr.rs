//! Decoding the Hyp Syndrome Register (ARM DDI 0406C B3.13.6) for trap handling and for fatal
//! reports that say what happened in words.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hsr(pub u32);

impl Hsr {
    pub fn ec(self) -> u32 {
        self.0 >> 26
    }
    pub fn il(self) -> bool {
        self.0 & (1 << 25) != 0
    }
    pub fn iss(self) -> u32 {
        self.0 & 0x01FF_FFFF
    }
    /// The immediate of an HVC (EC 0x12).
    pub fn hvc_imm(self) -> Option<u16> {
        (self.ec() == EC_HVC).then_some(self.0 as u16)
    }
    pub fn ec_name(self) -> &'static str {
        ec_name(self.ec())
    }
    /// For data aborts (EC 0x24/0x25): write, not read.
    pub fn is_write(self) -> bool {
        self.0 & (1 << 6) != 0
    }
    /// For aborts from a lower level: the stage-2 fault happened on a stage-1 translation table
    /// walk (ISS bit 7, S1PTW), not on the access itself.
    pub fn on_stage1_walk(self) -> bool {
        self.0 & (1 << 7) != 0
    }
    /// Data/instruction fault status code (abort ECs).
    pub fn fsc(self) -> u32 {
        self.0 & 0x3F
    }
}

pub const EC_UNKNOWN: u32 = 0x00;
pub const EC_WFI_WFE: u32 = 0x01;
pub const EC_HVC: u32 = 0x12;
pub const EC_SMC: u32 = 0x13;
pub const EC_PABT_LOWER: u32 = 0x20;
pub const EC_PABT_HYP: u32 = 0x21;
pub const EC_DABT_LOWER: u32 = 0x24;
pub const EC_DABT_HYP: u32 = 0x25;

pub fn ec_name(ec: u32) -> &'static str {
    match ec {
        0x00 => "unknown reason (e.g. undefined instruction)",
        0x01 => "WFI/WFE",
        0x03 => "MCR/MRC CP15 access",
        0x04 => "MCRR/MRRC CP15 access",
        0x05 => "MCR/MRC CP14 access",
        0x06 => "LDC/STC CP14 access",
        0x07 => "HCPTR-trapped CP access (VFP/SIMD)",
        0x08 => "MRC VMRS access",
        0x0C => "MRRC CP14 access",
        0x0E => "illegal exception return",
        0x11 => "SVC routed to HYP",
        0x12 => "HVC",
        0x13 => "SMC",
        0x20 => "prefetch abort from a lower mode",
        0x21 => "prefetch abort in HYP",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower mode",
        0x25 => "data abort in HYP",
        _ => "reserved exception class",
    }
}

/// Fault status codes of the long-descriptor format (B3.13.3), as words.
pub fn fsc_name(fsc: u32) -> &'static str {
    match fsc {
        0x04..=0x07 => "translation fault",
        0x09..=0x0B => "access flag fault",
        0x0D..=0x0F => "permission fault",
        0x10 => "synchronous external abort",
        0x11 => "asynchronous external abort",
        0x14..=0x17 => "external abort on table walk",
        0x21 => "alignment fault",
        0x22 => "debug event",
        _ => "other fault",
    }
}

/// Level of a translation/access/permission fault.
pub fn fsc_level(fsc: u32) -> Option<u32> {
    matches!(fsc, 0x04..=0x0F | 0x14..=0x17).then_some(fsc & 3)
}

/// Faulting IPA of a stage-2 abort: HPFAR holds IPA[39:12] in bits [31:4] (B4.1.84).
pub fn fault_ipa(hpfar: u32, far: u32) -> u64 {
    ((hpfar as u64 & !0xF) << 8) | (far as u64 & 0xFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_hvc_and_aborts() {
        let h = Hsr(0x4A00_0001); // EC 0x12, IL, imm 1
        assert_eq!(h.ec(), EC_HVC);
        assert!(h.il());
        assert_eq!(h.hvc_imm(), Some(1));
        let d = Hsr((EC_DABT_HYP << 26) | (1 << 25) | (1 << 6) | 0x07);
        assert_eq!(d.ec_name(), "data abort in HYP");
        assert!(d.is_write());
        assert_eq!(fsc_name(d.fsc()), "translation fault");
        assert_eq!(fsc_level(d.fsc()), Some(3));
        assert_eq!(Hsr(EC_SMC << 26).hvc_imm(), None);
    }

    #[test]
    fn fault_ipa_from_hpfar() {
        // IPA 0x1_2345_6789: HPFAR = IPA[39:12] << 4
        let hpfar = ((0x1_2345_6789u64 >> 12) << 4) as u32;
        assert_eq!(fault_ipa(hpfar, 0xDEAD_B789), 0x1_2345_6789);
    }
}
