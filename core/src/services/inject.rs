//! Turning a stage-2 abort into the exception the payload would get from a bus error: a
//! synchronous external abort taken to its own Abort mode, as the ARMv7 exception entry would do
//! it (ARM DDI 0406C B1.8.3 "Data Abort exception", B1.8.4 "Prefetch Abort exception"; fault
//! status encodings B4.1.52 DFSR, short and long descriptor formats).

/// The payload's PL1 state that decides how the exception is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pl1State {
    /// CPSR at the fault (SPSR_hyp).
    pub cpsr: u32,
    pub sctlr: u32,
    pub ttbcr: u32,
    pub vbar: u32,
}

/// What the runtime writes before it returns to the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    /// ELR_hyp := the Abort vector.
    pub pc: u32,
    /// SPSR_hyp := Abort mode.
    pub cpsr: u32,
    pub spsr_abt: u32,
    pub lr_abt: u32,
    /// DFSR or IFSR value.
    pub fsr: u32,
    /// DFAR or IFAR value.
    pub far: u32,
    pub is_data: bool,
}

const MODE_ABT: u32 = 0x17;
const SCTLR_V: u32 = 1 << 13;
const SCTLR_EE: u32 = 1 << 25;
const SCTLR_TE: u32 = 1 << 30;
const TTBCR_EAE: u32 = 1 << 31;

/// A synchronous external abort for the access at `pc` (data: to `far`, `write` or read;
/// instruction: fetching `far`). `on_walk`: the payload's own stage-1 table walk for that access
/// hit the stage-2 fault, so it is reported as an abort on a translation table walk.
pub fn external_abort(st: Pl1State, pc: u32, is_data: bool, write: bool, far: u32, on_walk: bool) -> Injection {
    let long = st.ttbcr & TTBCR_EAE != 0;
    // Long format (bit 9 set): STATUS 0b010000 synchronous external abort, 0b0101LL on a table
    // walk at level LL (reported as level 1: stage 2 does not say which stage-1 level it was).
    // Short format: FS 0b01000 synchronous external abort (non-translation), 0b01100 on a
    // first-level table walk.
    let mut fsr = match (long, on_walk) {
        (true, false) => 0x10 | (1 << 9),
        (true, true) => 0x15 | (1 << 9),
        (false, false) => 0x08,
        (false, true) => 0x0C,
    };
    if is_data && write {
        fsr |= 1 << 11; // WnR
    }
    let base = if st.sctlr & SCTLR_V != 0 { 0xFFFF_0000 } else { st.vbar & !0x1F };
    let vector = if is_data { 0x10 } else { 0x0C };
    // Abort mode, IRQ and asynchronous aborts masked, FIQ unchanged, ARM/Thumb and endianness
    // from SCTLR.TE/EE, IT and J state cleared.
    let mut cpsr = MODE_ABT | 0x80 | 0x100 | (st.cpsr & 0x40);
    if st.sctlr & SCTLR_TE != 0 {
        cpsr |= 0x20;
    }
    if st.sctlr & SCTLR_EE != 0 {
        cpsr |= 0x200;
    }
    Injection {
        pc: base + vector,
        cpsr,
        spsr_abt: st.cpsr,
        lr_abt: pc.wrapping_add(if is_data { 8 } else { 4 }),
        fsr,
        far,
        is_data,
    }
}

impl Injection {
    /// The fault being answered is the fetch of the very vector this injection enters (`pc`, the
    /// faulting PC): the payload's Prefetch Abort vector lies where it cannot execute (device
    /// space, which stage 2 maps XN, or hypfw's region), so it would take the same abort at the
    /// same place for ever. (A fetch fault at the Data Abort vector enters the Prefetch Abort
    /// vector, which is caught here on the next round if it cannot be fetched either.)
    pub fn enters_itself(&self, pc: u32) -> bool {
        !self.is_data && self.pc == pc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVC_ARM: u32 = 0x6000_0013; // SVC, ARM, Z|C set, interrupts enabled

    #[test]
    fn data_abort_short_descriptors_low_vectors() {
        let st = Pl1State { cpsr: SVC_ARM, sctlr: 0x00C5_0078, ttbcr: 0, vbar: 0xC000_8000 };
        let i = external_abort(st, 0xC010_1234, true, true, 0x7FE0_0010, false);
        assert_eq!(i.pc, 0xC000_8010);
        assert_eq!(i.cpsr, 0x197, "ABT, I and A set, ARM, little-endian");
        assert_eq!((i.spsr_abt, i.lr_abt), (SVC_ARM, 0xC010_123C));
        assert_eq!(i.fsr, 0x808, "sync external abort, WnR");
        assert_eq!(i.far, 0x7FE0_0010);
    }

    #[test]
    fn prefetch_abort_lpae_high_vectors_thumb() {
        let st = Pl1State { cpsr: 0x1F | 0x40, sctlr: SCTLR_V | SCTLR_TE, ttbcr: TTBCR_EAE, vbar: 0 };
        let i = external_abort(st, 0x8000, false, false, 0x8000, false);
        assert_eq!(i.pc, 0xFFFF_000C);
        assert_eq!(i.cpsr, 0x17 | 0x80 | 0x100 | 0x40 | 0x20, "F kept, Thumb from TE");
        assert_eq!(i.lr_abt, 0x8004);
        assert_eq!(i.fsr, 0x210, "long format: STATUS 0x10, LPAE bit");
    }

    #[test]
    fn an_abort_whose_vector_cannot_be_fetched_is_seen() {
        // VBAR 0 (flash on QEMU virt, XN at stage 2), as a payload that never set its vectors.
        let st = Pl1State { cpsr: SVC_ARM, sctlr: 0x00C5_0078, ttbcr: 0, vbar: 0 };
        // Its data abort enters 0x10, whose fetch faults: that enters 0xc, not itself.
        let d = external_abort(st, 0x4020_0100, true, false, 0xBFE0_0020, false);
        assert!(!d.enters_itself(0x4020_0100));
        let at_dabt = external_abort(st, 0x10, false, false, 0x10, false);
        assert_eq!(at_dabt.pc, 0x0C);
        assert!(!at_dabt.enters_itself(0x10));
        // The fetch of 0xc faults: entering 0xc again would fault there for ever.
        let at_pabt = external_abort(st, 0x0C, false, false, 0x0C, false);
        assert!(at_pabt.enters_itself(0x0C));
        // A data access by the instruction at the vector is the handler's own fault, not a loop.
        assert!(!external_abort(st, 0x10, true, false, 0x7FE0_0000, false).enters_itself(0x10));
        // High vectors, Thumb: the same rule at 0xffff000c.
        let high = Pl1State { sctlr: SCTLR_V | SCTLR_TE, ..st };
        assert!(external_abort(high, 0xFFFF_000C, false, false, 0xFFFF_000C, false).enters_itself(0xFFFF_000C));
        assert!(!external_abort(high, 0xFFFF_0010, false, false, 0xFFFF_0010, false).enters_itself(0xFFFF_0010));
    }

    #[test]
    fn faults_on_the_payloads_own_table_walk() {
        let short = Pl1State { cpsr: SVC_ARM, sctlr: 0x00C5_0079, ttbcr: 0, vbar: 0 };
        assert_eq!(external_abort(short, 0x1000, true, false, 0x2000, true).fsr, 0x0C);
        assert_eq!(external_abort(short, 0x1000, false, false, 0x1000, true).fsr, 0x0C);
        let long = Pl1State { ttbcr: TTBCR_EAE, ..short };
        assert_eq!(external_abort(long, 0x1000, true, true, 0x2000, true).fsr, 0x215 | 0x800);
    }
}
