//! ARMv7-A with the Virtualization Extensions: system registers `aarch32-cpu` lacks, cache and
//! TLB maintenance, barriers, and the boot assembly (pulled in with `global_asm!` so that its
//! constants and structure offsets come from Rust).

pub mod asm;
pub mod cache;
pub mod regs;

use core::arch::asm;

pub const MODE_SVC: u32 = 0x13;
pub const MODE_HYP: u32 = 0x1A;

pub fn mode_name(mode: u32) -> &'static str {
    match mode & 0x1F {
        0x10 => "USR",
        0x11 => "FIQ",
        0x12 => "IRQ",
        0x13 => "SVC",
        0x16 => "MON",
        0x17 => "ABT",
        0x1A => "HYP",
        0x1B => "UND",
        0x1F => "SYS",
        _ => "invalid",
    }
}

/// CPSR.M of the running code.
pub fn current_mode() -> u32 {
    aarch32_cpu::register::Cpsr::read().raw_value() & 0x1F
}

/// The physical counter (CNTPCT).
pub fn cntpct() -> u64 {
    // SAFETY: ISB then an MRRC of CNTPCT: readable in HYP and Secure PL1, no side effects.
    unsafe { asm!("isb", options(nomem, nostack, preserves_flags)) };
    aarch32_cpu::register::CntPct::read().0
}

pub fn cntfrq() -> u32 {
    aarch32_cpu::register::Cntfrq::read().0
}

pub fn mpidr() -> u32 {
    aarch32_cpu::register::Mpidr::read().0
}

pub fn midr() -> u32 {
    aarch32_cpu::register::Midr::read().raw_value()
}

pub fn id_pfr1() -> u32 {
    aarch32_cpu::register::IdPfr1::read().0
}

pub fn wfe() {
    // SAFETY: WFE only waits.
    unsafe { asm!("wfe", options(nomem, nostack, preserves_flags)) };
}

pub fn sev() {
    // SAFETY: DSB then SEV: wakes CPUs in WFE after our stores are visible.
    unsafe { asm!("dsb sy", "sev", options(nostack, preserves_flags)) };
}

pub fn wfi() {
    // SAFETY: WFI only waits.
    unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) };
}

/// Issue an SMC32 fast call (PSCI) from HYP: goes to the platform firmware.
pub fn smc32(fid: u32, a: [u32; 3]) -> u32 {
    smccc::smc32(fid, [a[0], a[1], a[2], 0, 0, 0, 0])[0]
}

/// Branch to `entry` with r0 = `arg`, never to return. Used to enter the init page.
///
/// # Safety
/// `entry` must be the physical address of code that is valid in the current mode and MMU state.
pub unsafe fn jump(entry: usize, arg: u32) -> ! {
    // SAFETY: the caller guarantees `entry` is valid code; nothing returns here.
    unsafe { asm!("bx {e}", e = in(reg) entry, in("r0") arg, options(noreturn)) }
}

/// Is this CPU in Secure state? Only asked in SVC on a CPU with the Security Extensions: reading
/// SCR is UNDEFINED from Non-secure PL1, so the probe runs with VBAR pointing at a table whose
/// undefined-instruction entry skips the read and reports "Non-secure".
pub fn probe_secure_svc() -> bool {
    unsafe extern "C" {
        fn hypfw_probe_secure() -> u32;
    }
    // SAFETY: the probe saves and restores VBAR and only reads SCR.
    unsafe { hypfw_probe_secure() != 0 }
}
