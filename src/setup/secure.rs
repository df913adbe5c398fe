//! Secure SVC -> Non-secure HYP: the GIC's interrupt groups, then the monitor switch (in the
//! resident copy, so that its vectors stay valid for the CPUs that follow).

use super::relocate::Copy;
use crate::arch::{self, Mode};
use crate::drivers::gic;
use crate::{detail, fatal, log};
use hypfw_core::platform::dtb::Platform;

unsafe extern "C" {
    fn hypfw_secure_to_ns_hyp(cntfrq: u32);
}

/// Leave Secure state on the boot CPU: on return it runs in Non-secure HYP.
///
/// # Safety
/// 1. the CPU is in Secure SVC with the MMU off;
/// 2. `copy` holds the relocated resident image (its monitor code and vectors).
pub unsafe fn leave(p: &Platform, copy: &Copy) {
    if let Some(g) = p.gic {
        // SAFETY: obligation 1 (Secure, MMU off) and the GIC's physical addresses from the DTB.
        unsafe {
            gic::secure_init_distributor(g.dist.0 as usize);
            gic::secure_init_cpu(g.dist.0 as usize, g.cpu.0 as usize);
        }
        detail!("entry: GIC interrupts assigned to Group 1 (Non-secure)");
    }
    let freq = p.timer_freq.unwrap_or(0);
    if freq == 0 && arch::cntfrq() == 0 {
        log!(
            "entry: warning: CNTFRQ is 0 and the device tree's timer gives no clock-frequency; it can only be set \
             while Secure, so the payload will see no timer frequency"
        );
    }
    let switch = copy.pa(hypfw_secure_to_ns_hyp as *const () as usize);
    // SAFETY: obligation 2: `switch` is the copy's hypfw_secure_to_ns_hyp, an extern "C" fn(u32)
    // that is position independent (MMU off, PA) and returns on this stack in NS HYP.
    unsafe { arch::call(switch, freq) };
    if arch::in_mode(Mode::Hyp) {
        // SAFETY: the boot phase, now in HYP, at its load address with the MMU off.
        unsafe { arch::set_boot_vectors() };
    } else {
        fatal!(
            "the switch from Secure SVC to Non-secure HYP did not arrive in HYP (mode {})",
            arch::mode_name(arch::current_mode())
        );
    }
    detail!("entry: switched from Secure SVC to Non-secure HYP through the monitor at {switch:#010x}");
}
