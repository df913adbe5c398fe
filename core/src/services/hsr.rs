//! Decoding the Hyp Syndrome Register (ARM DDI 0406C B3.13.6) for trap handling and for fatal
//! reports that say what happened in words.

use crate::platform::packed::{Packed, keys, total_len};

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
pub const EC_CP15_32: u32 = 0x03;
pub const EC_HVC: u32 = 0x12;
pub const EC_SMC: u32 = 0x13;
pub const EC_PABT_LOWER: u32 = 0x20;
pub const EC_PABT_HYP: u32 = 0x21;
pub const EC_DABT_LOWER: u32 = 0x24;
pub const EC_DABT_HYP: u32 = 0x25;

/// The exception classes by name (B3.13.6), and the name of any other. Packed (no pointer per
/// name for the boot to relocate: `platform::packed`); a `match` here compiles to a table of 38
/// pointers.
const EC_NAMES: [(&str, u8); 19] = [
    ("unknown reason (e.g. undefined instruction)", 0x00),
    ("WFI/WFE", 0x01),
    ("MCR/MRC CP15 access", 0x03),
    ("MCRR/MRRC CP15 access", 0x04),
    ("MCR/MRC CP14 access", 0x05),
    ("LDC/STC CP14 access", 0x06),
    ("HCPTR-trapped CP access (VFP/SIMD)", 0x07),
    ("MRC VMRS access", 0x08),
    ("MRRC CP14 access", 0x0C),
    ("illegal exception return", 0x0E),
    ("SVC routed to HYP", 0x11),
    ("HVC", 0x12),
    ("SMC", 0x13),
    ("prefetch abort from a lower mode", 0x20),
    ("prefetch abort in HYP", 0x21),
    ("PC alignment fault", 0x22),
    ("data abort from a lower mode", 0x24),
    ("data abort in HYP", 0x25),
    ("reserved exception class", 0xFF),
];
/// For each 6-bit class, its entry in [`EC_NAMES`] (the last for every class not named).
static EC_INDEX: [u8; 64] = {
    let mut out = [18; 64];
    let mut i = 0;
    while i < 18 {
        out[EC_NAMES[i].1 as usize] = i as u8;
        i += 1;
    }
    out
};
const EC_TEXT: [&str; 19] = keys(&EC_NAMES);
static EC_PACKED: Packed<19, { total_len(&EC_TEXT) }> = Packed::new(EC_TEXT);

pub fn ec_name(ec: u32) -> &'static str {
    EC_PACKED.text(EC_INDEX[(ec & 0x3F) as usize] as usize).unwrap_or_default()
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

/// A trapped MCR/MRC to CP15 (EC 0x03, ISS as in ARM DDI 0406C B3.13.6): the register's
/// encoding, the core register, and the direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cp15Access {
    /// (opc1, CRn, CRm, opc2).
    pub reg: (u32, u32, u32, u32),
    /// The core register (0-14; 13 and 14 are the trapped mode's banked SP and LR).
    pub rt: usize,
    /// MRC (a read into `rt`), not MCR.
    pub read: bool,
}

/// ACTLR, the Auxiliary Control Register: (opc1, CRn, CRm, opc2) = (0, c1, c0, 1).
pub const ACTLR: (u32, u32, u32, u32) = (0, 1, 0, 1);
/// ACTLR.SMP on Cortex-A7/A15/A17: the CPU takes part in coherency.
pub const ACTLR_SMP: u32 = 1 << 6;

impl Hsr {
    /// The access of a trapped MCR/MRC (EC 0x03), else None.
    pub fn cp15_access(self) -> Option<Cp15Access> {
        (self.ec() == EC_CP15_32).then(|| {
            let iss = self.iss();
            Cp15Access {
                reg: ((iss >> 14) & 7, (iss >> 10) & 0xF, (iss >> 1) & 0xF, (iss >> 17) & 7),
                rt: ((iss >> 5) & 0xF) as usize,
                read: iss & 1 != 0,
            }
        })
    }
}

/// Whether a trapped instruction that may be conditional would have run, from the HSR's CV/COND
/// and the interrupted code's SPSR: a conditional instruction may trap even when its condition
/// fails (IMPLEMENTATION DEFINED), and must then only be skipped. With CV = 0 the condition is the
/// Thumb IT block's (IT[7:4], when IT[3:0] says a block is active), else none.
pub fn condition_passed(h: Hsr, spsr: u32) -> bool {
    let cond = if h.0 & (1 << 24) != 0 {
        (h.0 >> 20) & 0xF
    } else {
        let it = ((spsr >> 8) & 0xFC) | ((spsr >> 25) & 0x3);
        if it & 0xF == 0 { 0xE } else { it >> 4 }
    };
    let (n, z, c, v) = (spsr >> 31 & 1 == 1, spsr >> 30 & 1 == 1, spsr >> 29 & 1 == 1, spsr >> 28 & 1 == 1);
    let base = match cond >> 1 {
        0 => z,
        1 => c,
        2 => n,
        3 => v,
        4 => c && !z,
        5 => n == v,
        6 => n == v && !z,
        _ => true,
    };
    if cond & 1 == 1 && cond != 0xF { !base } else { base }
}

/// For a trapped SMC (EC 0x13): ISS bit 19, CCKNOTPASS: a conditional SMC that failed its
/// condition code check, trapped all the same (whether such an SMC traps is IMPLEMENTATION
/// DEFINED): it must be skipped, not carried out.
pub fn smc_failed_condition(h: Hsr) -> bool {
    h.ec() == EC_SMC && h.0 & (1 << 19) != 0
}

/// The SPSR to return with after skipping one instruction of the interrupted code (a trapped SMC,
/// an emulated access): in a Thumb IT block the IT state moves on as the instruction's own
/// execution would have moved it (ARM DDI 0406C A2.5.2, ITAdvance()), or the next instructions
/// would run under the wrong conditions. IT[1:0] are SPSR bits 26:25, IT[7:2] bits 15:10.
pub fn spsr_after_skip(spsr: u32) -> u32 {
    let it = ((spsr >> 8) & 0xFC) | ((spsr >> 25) & 0x3);
    let next = if it & 0x7 == 0 { 0 } else { (it & 0xE0) | ((it << 1) & 0x1F) };
    (spsr & !0x0600_FC00) | ((next & 0xFC) << 8) | ((next & 0x3) << 25)
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

    /// ITAdvance on the SPSR: `ITTE EQ` (IT = 0x06 after the IT instruction: EQ, mask 0b0110),
    /// three instructions, then no IT state; outside a block nothing changes.
    #[test]
    fn skipping_an_instruction_moves_the_it_state_on() {
        let with_it = |it: u32, rest: u32| rest | ((it & 0xFC) << 8) | ((it & 0x3) << 25);
        let it_of = |spsr: u32| ((spsr >> 8) & 0xFC) | ((spsr >> 25) & 0x3);
        let flags = 0x6000_0030; // Z and C set, T set, SVC-ish low bits
        // ITTE EQ: firstcond 0000, mask 0110 -> IT = 0000_0110 = 0x06 on the first instruction.
        let mut spsr = with_it(0x06, flags);
        let mut seen = vec![];
        for _ in 0..4 {
            seen.push(it_of(spsr));
            spsr = spsr_after_skip(spsr);
        }
        // 0x06 -> 0x0C -> 0x18 (IT[2:0] = 0: last) -> 0.
        assert_eq!(seen, [0x06, 0x0C, 0x18, 0x00]);
        assert_eq!(spsr & !0x0600_FC00, flags, "only the IT bits change");
        assert_eq!(spsr_after_skip(flags), flags);
        // IT[7:5] (the base condition) is kept while the block lasts: GT = 1100.
        assert_eq!(it_of(spsr_after_skip(with_it(0xC4, flags))), 0xC8);
    }

    #[test]
    fn a_trapped_smc_that_failed_its_condition_is_recognised() {
        assert!(smc_failed_condition(Hsr(0x4E08_0000 | 1 << 19)));
        assert!(!smc_failed_condition(Hsr(0x4E00_0000)));
        assert!(!smc_failed_condition(Hsr(0x9208_0000))); // a data abort with ISS bit 19
    }

    /// MRC p15, 0, r3, c1, c0, 1 (ACTLR into r3) and MCR p15, 0, r12, c1, c0, 1, as their HSRs
    /// encode them.
    #[test]
    fn a_trapped_actlr_access_decodes() {
        let iss = |opc2: u32, opc1: u32, crn: u32, rt: u32, crm: u32, read: u32| {
            1 << 24 | 0xE << 20 | opc2 << 17 | opc1 << 14 | crn << 10 | rt << 5 | crm << 1 | read
        };
        let mrc = Hsr(EC_CP15_32 << 26 | 1 << 25 | iss(1, 0, 1, 3, 0, 1));
        assert_eq!(mrc.cp15_access(), Some(Cp15Access { reg: ACTLR, rt: 3, read: true }));
        let mcr = Hsr(EC_CP15_32 << 26 | 1 << 25 | iss(1, 0, 1, 12, 0, 0));
        assert_eq!(mcr.cp15_access(), Some(Cp15Access { reg: ACTLR, rt: 12, read: false }));
        assert_eq!(Hsr(EC_HVC << 26).cp15_access(), None);
    }

    /// Every condition against the flags that pass and fail it; CV = 0 outside an IT block is
    /// unconditional, inside one the block's condition counts.
    #[test]
    fn conditions_of_trapped_instructions() {
        const N: u32 = 1 << 31;
        const Z: u32 = 1 << 30;
        const C: u32 = 1 << 29;
        const V: u32 = 1 << 28;
        let cv = |cond: u32| Hsr(EC_CP15_32 << 26 | 1 << 24 | cond << 20);
        let cases: [(u32, u32, u32); 15] = [
            (0x0, Z, 0),     // EQ
            (0x1, 0, Z),     // NE
            (0x2, C, 0),     // CS
            (0x3, 0, C),     // CC
            (0x4, N, 0),     // MI
            (0x5, 0, N),     // PL
            (0x6, V, 0),     // VS
            (0x7, 0, V),     // VC
            (0x8, C, C | Z), // HI
            (0x9, Z, C),     // LS
            (0xA, N | V, N), // GE
            (0xB, N, N | V), // LT
            (0xC, 0, Z),     // GT
            (0xD, Z, 0),     // LE
            (0xE, 0, 0),     // AL: passes with any flags (checked with 0 twice)
        ];
        for (cond, pass, fail) in cases {
            assert!(condition_passed(cv(cond), pass), "cond {cond:#x} with {pass:#x}");
            if cond != 0xE {
                assert!(!condition_passed(cv(cond), fail), "cond {cond:#x} with {fail:#x}");
            }
        }
        let no_cv = Hsr(EC_CP15_32 << 26);
        assert!(condition_passed(no_cv, 0), "ARM/Thumb outside an IT block");
        // In an IT block whose condition is NE (IT = 0001_1000) with Z set: fails.
        let it_ne = (0x18 & 0xFC) << 8;
        assert!(!condition_passed(no_cv, it_ne | Z));
        assert!(condition_passed(no_cv, it_ne));
    }
}
