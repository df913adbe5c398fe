//! Running code at PL1 under the runtime: the register context and the world switch
//! (`hypfw_enter_guest` in `boot/vectors.S`).

/// A PL1 guest's registers as the world switch saves and loads them. HYP mode banks only SP,
/// ELR and SPSR, so the guest's own banked registers (SP_svc, LR_svc, ...) stay in the CPU and
/// need no saving; LR_usr is shared with HYP and is saved here.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestContext {
    pub r: [u32; 13],
    pub lr_usr: u32,
    pub elr: u32,
    pub spsr: u32,
}

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
