//! The world switch: running code at PL1 (the payload, or the bare image's self-test stub) until
//! its next trap to HYP (`hypfw_enter_pl1` in boot/vectors.S).

pub use hypfw_core::abi::Pl1Context;
use hypfw_core::services::hsr::Hsr;

unsafe extern "C" {
    fn hypfw_enter_pl1(ctx: *mut Pl1Context) -> u32;
}

/// Run the PL1 code described by `ctx` until its next trap to HYP; returns the HSR of that trap,
/// with `ctx` holding its registers as they were then.
///
/// # Safety
/// 1. `ctx.elr`/`ctx.spsr` describe code that may run at PL1 (a PL0/PL1 mode, not HYP or Monitor);
/// 2. the PL1 state (SCTLR, VBAR) and HCR/stage 2 confine what that code can reach to what the
///    caller accepts.
pub unsafe fn run(ctx: &mut Pl1Context) -> Hsr {
    // SAFETY: the routine saves and restores the runtime's callee-saved registers and returns on
    // the next trap; obligations 1 and 2 make what runs in between the caller's decision.
    Hsr(unsafe { hypfw_enter_pl1(ctx) })
}
