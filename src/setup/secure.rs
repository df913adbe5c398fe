//! Secure SVC -> Non-secure HYP: the GIC's interrupt groups, then the monitor switch (in the
//! resident copy, so that its vectors stay valid for the CPUs that follow).

use super::relocate::Copy;
use crate::arch::{self, Mode};
use crate::drivers::gic;
use crate::{detail, fatal, log};
use hypfw_core::platform::dtb::Platform;
use hypfw_core::services::release;

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
        // SAFETY: obligation 1 and the GIC's physical address from the DTB.
        unsafe { wake_mailbox_cpus(p, g.dist.0 as usize) };
    } else {
        // A GICv3 (QEMU's virt with gic-version=3), or no GIC hypfw knows: its interrupt groups,
        // its system-register access and its redistributors' wake-up are the Secure side's to set,
        // and hypfw does that for a GICv2 only.
        log!(
            "entry: warning: Secure SVC entry without a GICv2 in the device tree: hypfw assigns no interrupts to \
             the Non-secure world, so the payload may receive none (a GICv3 is not set up from Secure)"
        );
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

/// CPUs parked in WFI on the SoC's release mailbox (Versatile Express's SYS_FLAGS) are woken by an
/// SGI. Theirs are Group 0 until each runs `hypfw_gic_secure_cpu`, and only a Secure write of
/// GICD_SGIR raises a Group 0 SGI, so it is sent now, with the mailbox cleared: each then polls the
/// mailbox until `handover::release_parked` writes hypfw's entry there (the SGI stays pending, so
/// WFI no longer waits).
///
/// # Safety
/// Secure state, MMU off; `dist` is the distributor's PA.
unsafe fn wake_mailbox_cpus(p: &Platform, dist: usize) {
    let Some(start) = p.cpu_release.and_then(|r| release::start(&r, 0, 0)) else { return };
    if start.wake != release::Wake::Sgi {
        return;
    }
    for &(at, value) in start.writes() {
        // SAFETY: the block's registers (MMU off), which only hypfw writes.
        unsafe { core::ptr::write_volatile(at as usize as *mut u32, value) };
    }
    // SAFETY: the caller's obligations.
    unsafe { gic::wake_others(dist) };
}
