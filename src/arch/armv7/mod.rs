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

/// The SMC conduit from HYP to the platform firmware, for `smccc`'s PSCI calls.
///
/// Written here rather than using `smccc::Smc`: on 32-bit Arm, smccc 0.2.3 saves r6/r7 in
/// compiler-chosen scratch registers, and when the allocator picks r6 for the copy of r7 (the
/// frame pointer on this target) the asm overwrites it, corrupting the caller's frame after the
/// call. PSCI passes at most r0-r3; SMCCC 1.1 requires the callee to preserve r4-r7, and r4/r5 are
/// declared clobbered anyway.
pub struct HypSmc;

impl smccc::Call for HypSmc {
    fn call32(function: u32, args: [u32; 7]) -> [u32; 8] {
        let (mut r0, mut r1, mut r2, mut r3) = (function, args[0], args[1], args[2]);
        // SAFETY: an SMC to the platform firmware following SMCCC; no memory of ours is touched.
        unsafe {
            asm!(
                ".arch_extension sec",
                "smc #0",
                inout("r0") r0,
                inout("r1") r1,
                inout("r2") r2,
                inout("r3") r3,
                out("r4") _,
                out("r5") _,
                options(nostack)
            )
        };
        [r0, r1, r2, r3, 0, 0, 0, 0]
    }
    fn call64(_function: u32, _args: [u64; 17]) -> [u64; 18] {
        // No SMC64 from an AArch32 HYP: SMCCC NOT_SUPPORTED (-1) in x0.
        [u64::MAX; 18]
    }
}

/// Issue an SMC32 fast call (PSCI) from HYP: goes to the platform firmware.
pub fn smc32(fid: u32, a: [u32; 3]) -> u32 {
    <HypSmc as smccc::Call>::call32(fid, [a[0], a[1], a[2], 0, 0, 0, 0])[0]
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
