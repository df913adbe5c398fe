//! The HVC interface the runtime offers to the lower modes: SMC Calling Convention function IDs
//! (ARM DEN 0028), the architecture calls, and a hypfw vendor-specific hypervisor service range.
//! Every argument comes from a less privileged mode and is treated as untrusted.

/// SMCCC return value for an unknown or unsupported function.
pub const NOT_SUPPORTED: u32 = -1i32 as u32;
pub const INVALID_PARAMETER: u32 = -3i32 as u32;

/// SMCCC owner numbers (ARM DEN 0028, function identifier bits [29:24]).
pub const OWNER_ARCH: u32 = 0;
pub const OWNER_STANDARD_SECURE: u32 = 4;
/// Vendor-specific hypervisor service: hypfw's own calls.
pub const OWNER_VENDOR_HYP: u32 = 6;

/// The identifier of a fast (atomic) SMC32/HVC32 call: bit 31 fast, bit 30 clear (32-bit
/// convention), owner in [29:24], function number in [15:0].
pub const fn fast32(owner: u32, number: u16) -> u32 {
    (1 << 31) | ((owner & 0x3F) << 24) | number as u32
}

pub const SMCCC_VERSION: u32 = smccc::arch::SMCCC_VERSION;
pub const SMCCC_ARCH_FEATURES: u32 = smccc::arch::SMCCC_ARCH_FEATURES;
/// SMCCC version this runtime implements: 1.1.
pub const SMCCC_VERSION_1_1: u32 = 0x0001_0001;

pub const HYPFW_VERSION: u32 = fast32(OWNER_VENDOR_HYP, 0x0000);
/// Does nothing and returns 0: the cheapest round trip, for benchmarks.
pub const HYPFW_NULL: u32 = fast32(OWNER_VENDOR_HYP, 0x0001);
/// Tear HYP down on the calling CPU and return to the caller with HYP in the state it was entered
/// in (MMU off, vectors at the identity-mapped init page, caches clean). Returns 0.
pub const HYPFW_TEARDOWN: u32 = fast32(OWNER_VENDOR_HYP, 0x0010);
/// Only answered while torn down (by the init page's stub): run the dual-step init again on the
/// calling CPU, then return 0 to the caller. While the runtime is up: NOT_SUPPORTED.
pub const HYPFW_REINIT: u32 = fast32(OWNER_VENDOR_HYP, 0x0011);
/// The SMCCC general queries every service range answers (ARM DEN 0028, 6.2).
pub const HYPFW_CALL_COUNT: u32 = fast32(OWNER_VENDOR_HYP, 0xFF00);
pub const HYPFW_CALL_UID: u32 = fast32(OWNER_VENDOR_HYP, 0xFF01);
pub const HYPFW_REVISION: u32 = fast32(OWNER_VENDOR_HYP, 0xFF03);

/// hypfw's interface version: major 0, minor 1.
pub const HYPFW_API_VERSION: u32 = 0x0000_0001;
/// UID of the hypfw vendor service (4 words, SMCCC "Call UID" format).
pub const HYPFW_UID: [u32; 4] = [0x6879_7066, 0x7721_4a1b, 0x9c3e_5d20, 0x0b5a_c7e1];
const HYPFW_FUNCTIONS: u32 = 4;

/// An SMCCC function identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionId(pub u32);

impl FunctionId {
    /// Fast call (atomic); yielding calls are not offered.
    pub fn is_fast(self) -> bool {
        self.0 & (1 << 31) != 0
    }
    /// SMC64/HVC64 calling convention: not for an AArch32 caller.
    pub fn is_64(self) -> bool {
        self.0 & (1 << 30) != 0
    }
    pub fn owner(self) -> u32 {
        (self.0 >> 24) & 0x3F
    }
    pub fn number(self) -> u32 {
        self.0 & 0xFFFF
    }
}

/// The result of a call: the values for r0-r3.
pub type CallResult = [u32; 4];

/// What the runtime must do for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Put these values in the caller's r0-r3 and return to it.
    Return(CallResult),
    /// HYPFW_TEARDOWN: tear HYP down on this CPU, then return 0 to the caller.
    Teardown,
}

fn ret(v: u32) -> CallResult {
    [v, 0, 0, 0]
}

/// Dispatch one HVC. `regs` are the caller's r0-r3, `imm` the HVC immediate.
pub fn dispatch(regs: [u32; 4], imm: u16) -> Action {
    if imm == 0 && regs[0] == HYPFW_TEARDOWN {
        return Action::Teardown;
    }
    Action::Return(answer(regs, imm))
}

/// Why a payload's HYPFW_TEARDOWN is refused (answered with DENIED, -3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoverRefusal {
    /// The firmware was not booted with `hypfw.handover=allow`.
    NotAllowed,
    /// Another CPU (this logical index) still runs the payload under hypfw.
    OtherCpuOn(usize),
}

impl core::fmt::Display for HandoverRefusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HandoverRefusal::NotAllowed => write!(
                f,
                "it would hand HYP, and with it hypfw's own memory, to the payload; boot with hypfw.handover=allow to permit it"
            ),
            HandoverRefusal::OtherCpuOn(c) => {
                write!(f, "cpu{c} still runs under hypfw; every other CPU must be off (PSCI CPU_OFF) first")
            }
        }
    }
}

/// May a payload take HYP over with HYPFW_TEARDOWN? Once HYP is torn down on a CPU, nothing stops
/// the code there from rewriting hypfw's memory (no stage 2) and so from taking HYP itself: the
/// call is a hand-over of the whole machine (kexec-style), so it needs the user's consent and no
/// other CPU may still depend on hypfw's runtime. `others_on` lists the other CPUs' power state
/// (true = on or pending).
pub fn payload_handover(
    allowed: bool,
    others_on: impl IntoIterator<Item = (usize, bool)>,
) -> Result<(), HandoverRefusal> {
    if !allowed {
        return Err(HandoverRefusal::NotAllowed);
    }
    match others_on.into_iter().find(|&(_, on)| on) {
        Some((cpu, _)) => Err(HandoverRefusal::OtherCpuOn(cpu)),
        None => Ok(()),
    }
}

/// The values the caller's r0-r3 must hold after a call that returns; r1-r3 are zeroed unless the
/// call returns them, so no HYP value ever leaks to the caller.
pub fn answer(regs: [u32; 4], imm: u16) -> CallResult {
    if imm != 0 {
        // SMCCC: HVC #0 only.
        return ret(NOT_SUPPORTED);
    }
    let fid = FunctionId(regs[0]);
    if !fid.is_fast() || fid.is_64() {
        return ret(NOT_SUPPORTED);
    }
    match fid.0 {
        SMCCC_VERSION => ret(SMCCC_VERSION_1_1),
        SMCCC_ARCH_FEATURES => match regs[1] {
            SMCCC_VERSION | SMCCC_ARCH_FEATURES => ret(0),
            _ => ret(NOT_SUPPORTED),
        },
        HYPFW_VERSION => ret(HYPFW_API_VERSION),
        HYPFW_NULL => ret(0),
        HYPFW_CALL_COUNT => ret(HYPFW_FUNCTIONS),
        HYPFW_CALL_UID => HYPFW_UID,
        HYPFW_REVISION => [0, 1, 0, 0],
        _ => ret(NOT_SUPPORTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The identifiers built from fields are the ones the interface has always had.
    #[test]
    fn function_ids() {
        assert_eq!(HYPFW_VERSION, 0x8600_0000);
        assert_eq!(HYPFW_NULL, 0x8600_0001);
        assert_eq!(HYPFW_TEARDOWN, 0x8600_0010);
        assert_eq!(HYPFW_REINIT, 0x8600_0011);
        assert_eq!(HYPFW_CALL_UID, 0x8600_FF01);
        assert_eq!(fast32(OWNER_STANDARD_SECURE, 3), 0x8400_0003, "PSCI CPU_ON");
        assert_eq!(FunctionId(HYPFW_NULL).owner(), OWNER_VENDOR_HYP);
    }

    #[test]
    fn architecture_calls() {
        assert_eq!(answer([SMCCC_VERSION, 9, 9, 9], 0), [0x10001, 0, 0, 0]);
        assert_eq!(answer([SMCCC_ARCH_FEATURES, SMCCC_VERSION, 0, 0], 0)[0], 0);
        assert_eq!(answer([SMCCC_ARCH_FEATURES, 0x8000_7FFF, 0, 0], 0)[0], NOT_SUPPORTED);
    }

    #[test]
    fn hypfw_calls() {
        assert_eq!(answer([HYPFW_VERSION, 0, 0, 0], 0), [1, 0, 0, 0]);
        assert_eq!(answer([HYPFW_NULL, 1, 2, 3], 0), [0, 0, 0, 0]);
        assert_eq!(answer([HYPFW_CALL_UID, 0, 0, 0], 0), HYPFW_UID);
    }

    #[test]
    fn unknown_yielding_64bit_and_nonzero_imm_are_not_supported() {
        assert_eq!(answer([0x8600_1234, 0, 0, 0], 0)[0], NOT_SUPPORTED);
        assert_eq!(answer([0x0600_0000, 0, 0, 0], 0)[0], NOT_SUPPORTED);
        assert_eq!(answer([0xC600_0000, 0, 0, 0], 0)[0], NOT_SUPPORTED);
        assert_eq!(answer([HYPFW_VERSION, 0, 0, 0], 7)[0], NOT_SUPPORTED);
    }

    #[test]
    fn teardown_is_an_action_and_reinit_is_only_for_the_stub() {
        assert_eq!(dispatch([HYPFW_TEARDOWN, 0, 0, 0], 0), Action::Teardown);
        assert_eq!(payload_handover(false, []), Err(HandoverRefusal::NotAllowed));
        assert_eq!(payload_handover(false, [(1, false)]), Err(HandoverRefusal::NotAllowed));
        assert_eq!(payload_handover(true, [(1, false), (2, true), (3, true)]), Err(HandoverRefusal::OtherCpuOn(2)));
        assert_eq!(payload_handover(true, [(1, false), (2, false)]), Ok(()));
        assert_eq!(payload_handover(true, []), Ok(()));
        assert_eq!(dispatch([HYPFW_TEARDOWN, 0, 0, 0], 1), Action::Return([NOT_SUPPORTED, 0, 0, 0]));
        assert_eq!(dispatch([HYPFW_REINIT, 0, 0, 0], 0), Action::Return([NOT_SUPPORTED, 0, 0, 0]));
        assert_eq!(answer([HYPFW_CALL_COUNT, 0, 0, 0], 0), [4, 0, 0, 0]);
    }

    proptest! {
        /// Whatever the caller passes, the dispatcher answers, and an unknown function gets exactly
        /// NOT_SUPPORTED with nothing else in r1-r3.
        #[test]
        fn any_input_gets_an_answer(r in any::<[u32; 4]>(), imm in any::<u16>()) {
            let out = answer(r, imm);
            let teardown = imm == 0 && r[0] == HYPFW_TEARDOWN;
            prop_assert_eq!(dispatch(r, imm), if teardown { Action::Teardown } else { Action::Return(out) });
            let known = [SMCCC_VERSION, SMCCC_ARCH_FEATURES, HYPFW_VERSION, HYPFW_NULL,
                         HYPFW_CALL_COUNT, HYPFW_CALL_UID, HYPFW_REVISION];
            if imm != 0 || !known.contains(&r[0]) {
                prop_assert_eq!(out, [NOT_SUPPORTED, 0, 0, 0]);
            }
        }
    }
}
