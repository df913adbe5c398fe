//! Running code at PL1 under the runtime: the register context and the world switch
//! (`hypfw_enter_guest` in `boot/vectors.S`).

pub use hypfw::handoff::GuestContext;

/// SPSR for a guest in SVC, ARM state, with IRQ, FIQ and asynchronous aborts masked.
pub const SPSR_SVC_MASKED: u32 = 0x1D3;

unsafe extern "C" {
    fn hypfw_enter_guest(ctx: *mut GuestContext) -> u32;
}

/// Run the guest until its next trap to HYP; returns the HSR of that trap.
///
/// # Safety
/// `ctx.elr`/`ctx.spsr` must describe code the guest may run, and the PL1 state (SCTLR, VBAR,
/// HCR) must confine what that code can reach.
pub unsafe fn run(ctx: &mut GuestContext) -> hypfw::hsr::Hsr {
    // SAFETY: forwarded from the caller; the assembly returns on the next trap.
    hypfw::hsr::Hsr(unsafe { hypfw_enter_guest(ctx) })
}
