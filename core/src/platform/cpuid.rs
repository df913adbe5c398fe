//! Naming the CPU from its identification registers, for the boot log (ARM DDI 0406C B4.1.105
//! MIDR, B4.1.93 ID_PFR1). A user who boots hypfw on a board should see which core and revision
//! it found and which of the extensions hypfw relies on are present.

use core::fmt;

/// MIDR, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Midr(pub u32);

impl Midr {
    pub fn implementer(self) -> u8 {
        (self.0 >> 24) as u8
    }
    /// Variant (the N of rNpM).
    pub fn variant(self) -> u8 {
        ((self.0 >> 20) & 0xF) as u8
    }
    pub fn part(self) -> u16 {
        ((self.0 >> 4) & 0xFFF) as u16
    }
    /// Revision (the M of rNpM).
    pub fn revision(self) -> u8 {
        (self.0 & 0xF) as u8
    }
    /// The core's name for the ARM-designed parts with the Virtualization Extensions.
    pub fn core_name(self) -> Option<&'static str> {
        if self.implementer() != 0x41 {
            return None;
        }
        Some(match self.part() {
            0xC07 => "Cortex-A7",
            0xC0D => "Cortex-A12",
            0xC0E => "Cortex-A17",
            0xC0F => "Cortex-A15",
            _ => return None,
        })
    }
}

impl fmt::Display for Midr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.core_name() {
            Some(n) => write!(f, "{n} r{}p{}", self.variant(), self.revision()),
            None => write!(
                f,
                "implementer {:#04x} part {:#05x} r{}p{}",
                self.implementer(),
                self.part(),
                self.variant(),
                self.revision()
            ),
        }
    }
}

/// ID_PFR1 fields hypfw depends on: Security [7:4], Virtualization [15:12], Generic Timer [19:16].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdPfr1(pub u32);

impl IdPfr1 {
    pub fn security(self) -> bool {
        (self.0 >> 4) & 0xF != 0
    }
    pub fn virtualization(self) -> bool {
        (self.0 >> 12) & 0xF != 0
    }
    pub fn generic_timer(self) -> bool {
        (self.0 >> 16) & 0xF != 0
    }
}

impl fmt::Display for IdPfr1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Pieces written one by one: three `{}` of a `&str` each go through the padding logic.
        let yn = |b: bool| if b { "yes" } else { "no" };
        f.write_str("Virtualization Extensions ")?;
        f.write_str(yn(self.virtualization()))?;
        f.write_str(", Security Extensions ")?;
        f.write_str(yn(self.security()))?;
        f.write_str(", Generic Timer ")?;
        f.write_str(yn(self.generic_timer()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn names_the_cores_hypfw_runs_on() {
        // QEMU 7.2 (Debian bookworm) -cpu cortex-a15 reads 0x414FC0F0; upstream QEMU before the
        // r4p0 change, and early silicon, 0x412FC0F1. A Cortex-A7 MPCore r0p5: 0x410FC075.
        assert_eq!(format!("{}", Midr(0x414F_C0F0)), "Cortex-A15 r4p0");
        assert_eq!(format!("{}", Midr(0x412F_C0F1)), "Cortex-A15 r2p1");
        assert_eq!(format!("{}", Midr(0x410F_C075)), "Cortex-A7 r0p5");
        assert_eq!(format!("{}", Midr(0x410F_C0E1)), "Cortex-A17 r0p1");
    }

    #[test]
    fn other_cores_are_named_by_their_fields() {
        // Cortex-A9 (no HYP) and a non-ARM implementer (Qualcomm Krait, 0x51).
        assert_eq!(format!("{}", Midr(0x413F_C090)), "implementer 0x41 part 0xc09 r3p0");
        assert_eq!(format!("{}", Midr(0x511F_06F0)), "implementer 0x51 part 0x06f r1p0");
    }

    #[test]
    fn feature_fields() {
        // Values read on QEMU 7.2: virtualization=on; virtualization=on,secure=on; plain virt.
        assert_eq!(
            format!("{}", IdPfr1(0x0001_1001)),
            "Virtualization Extensions yes, Security Extensions no, Generic Timer yes"
        );
        let s = IdPfr1(0x0001_1011);
        assert!(s.virtualization() && s.security() && s.generic_timer());
        let plain = IdPfr1(0x0001_0001);
        assert!(!plain.virtualization() && !plain.security() && plain.generic_timer());
    }
}
