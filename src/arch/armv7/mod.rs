//! ARMv7-A with the Virtualization Extensions: CPU identification and state, barriers and events,
//! SMC calls to the platform firmware, cache and TLB maintenance ([`cache`]), system registers
//! ([`regs`]) and the boot assembly ([`asm`], pulled in with `global_asm!` so that its constants
//! and structure offsets come from Rust). This is the only Rust in the firmware that writes
//! `asm!`.

pub mod asm;
pub mod cache;
pub mod mem;
pub mod regs;

use core::arch::asm;
pub use hypfw_core::abi::bits::{Mode, mode_name};

/// CPSR.M of the running code.
pub fn current_mode() -> u32 {
    aarch32_cpu::register::Cpsr::read().raw_value() & Mode::MASK
}

/// Is the running code in `mode`?
pub fn in_mode(mode: Mode) -> bool {
    current_mode() == mode.bits()
}

/// The physical counter (CNTPCT).
pub fn cntpct() -> u64 {
    isb();
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

/// ACTLR (Cortex-A15/A7: bit 6 is SMP, coherency with the other CPUs).
pub fn actlr() -> u32 {
    regs::read::<aarch32_cpu::register::Actlr>()
}

pub fn id_pfr1() -> u32 {
    aarch32_cpu::register::IdPfr1::read().0
}

pub fn isb() {
    // SAFETY: ISB only waits for earlier instructions to complete; it touches no memory.
    unsafe { asm!("isb", options(nomem, nostack, preserves_flags)) };
}

/// DSB ISH then ISB: earlier TLB maintenance and system-register writes are complete, and the
/// next instruction sees them.
pub fn dsb_ish_isb() {
    // SAFETY: barriers only; they order, they do not access memory themselves.
    unsafe { asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
}

pub fn wfe() {
    // SAFETY: WFE only waits for an event; no memory or register is changed.
    unsafe { asm!("wfe", options(nomem, nostack, preserves_flags)) };
}

/// DSB then SEV: wakes CPUs in WFE after our stores are visible.
pub fn sev() {
    // SAFETY: a barrier and an event signal; neither writes memory.
    unsafe { asm!("dsb sy", "sev", options(nostack, preserves_flags)) };
}

/// Run `n` (at least 1) steps of a three-instruction loop: a delay whose length is known in
/// instructions, for the bench's dithering.
pub fn delay_steps(n: u32) {
    // SAFETY: a register-only countdown loop; it touches no memory.
    unsafe { asm!("1:", "subs {n}, {n}, #1", "nop", "bhi 1b", n = inout(reg) n.max(1) => _, options(nomem, nostack)) };
}

pub fn wfi() {
    // SAFETY: WFI only waits for an interrupt; interrupts are masked in HYP, so none is taken.
    unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) };
}

/// The current stack pointer.
pub fn sp() -> usize {
    let sp: usize;
    // SAFETY: reads SP into a register; nothing else changes.
    unsafe { asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

/// The PSCI calls hypfw makes to the platform firmware, by SMC from HYP (an HVC would trap to
/// HYP itself). Here so that no other room issues an SMC.
pub mod psci {
    use core::arch::asm;
    pub use smccc::psci::error::Error;
    use smccc::psci::{PSCI_AFFINITY_INFO_32, PSCI_CPU_ON_32};

    /// An SMC32 call with three arguments and one result. The hotplug path's calls go through
    /// this rather than `smccc::smc32`, which passes and saves all eight argument registers (r6
    /// and r7 through temporaries): ten instructions of every CPU_ON. A PSCI implementation
    /// preserves r4-r14 in an SMC32 call (PSCI, ARM DEN 0022, 5.2); r0-r3 and r12 are taken as
    /// clobbered.
    fn smc3(fid: u32, a: u32, b: u32, c: u32) -> i32 {
        let r0: u32;
        // SAFETY: an SMC to the platform's PSCI implementation with the registers above; it
        // does not touch hypfw's memory.
        unsafe {
            asm!(
                ".inst 0xe1600070", // smc #0, without requiring -C target-feature=+trustzone
                inout("r0") fid => r0,
                inout("r1") a => _,
                inout("r2") b => _,
                inout("r3") c => _,
                out("r12") _,
                options(nostack),
            )
        };
        r0 as i32
    }

    /// CPU_ON for the physical CPU `mpidr`, entering at the physical address `entry` with r0 =
    /// `context`.
    pub fn cpu_on(mpidr: u32, entry: u32, context: u32) -> Result<(), Error> {
        match smc3(PSCI_CPU_ON_32, mpidr, entry, context) {
            0 => Ok(()),
            e => Err(Error::from(e)),
        }
    }

    /// AFFINITY_INFO's INVALID_PARAMETERS: the platform knows no CPU `mpidr`.
    const INVALID_PARAMETERS: i32 = -2;

    /// Is the physical CPU `mpidr` off (AFFINITY_INFO at level 0: 1 is OFF)? A CPU the platform
    /// does not know (INVALID_PARAMETERS: the device tree lists more CPUs than there are, as under
    /// QEMU with a smaller -smp) runs nothing either, and counts as off.
    pub fn is_off(mpidr: u32) -> bool {
        matches!(smc3(PSCI_AFFINITY_INFO_32, mpidr, 0, 0), 1 | INVALID_PARAMETERS)
    }

    /// Does the platform's PSCI know the physical CPU `mpidr`?
    pub fn knows(mpidr: u32) -> bool {
        smc3(PSCI_AFFINITY_INFO_32, mpidr, 0, 0) != INVALID_PARAMETERS
    }

    /// A call without arguments (SYSTEM_OFF, SYSTEM_RESET); returns r0 if it returns at all.
    pub fn call(fid: u32) -> u32 {
        smccc::smc32(fid, [0; 7])[0]
    }
}

/// Branch to `entry` with r0 = `arg`, never to return. Used to enter the init page.
///
/// # Safety
/// 1. `entry` is the address, in the current translation regime, of code that runs in the
///    current mode and MMU state;
/// 2. that code never returns here (nothing of this stack is used after the branch).
pub unsafe fn jump(entry: usize, arg: u32) -> ! {
    // SAFETY: obligations 1 and 2 of the caller: valid code that does not return.
    unsafe { asm!("bx {e}", e = in(reg) entry, in("r0") arg, options(noreturn)) }
}

/// Call the AAPCS function at address `f` with one argument.
///
/// # Safety
/// 1. `f` is the address, in the current translation regime, of an `extern "C" fn(u32)`;
/// 2. it may run with the current stack and returns to the caller.
pub unsafe fn call(f: usize, arg: u32) {
    // SAFETY: obligation 1: an address of such a function is a valid function pointer of that
    // type; obligation 2 makes the call itself sound.
    unsafe {
        let f: extern "C" fn(u32) = core::mem::transmute(f);
        f(arg)
    }
}

/// Point HVBAR at the boot phase's vectors (boot/entry.S's `hypfw_boot_vectors`): entry.S does it
/// on entry in HYP; after the switch from Secure SVC the boot phase arrives in HYP anew.
///
/// # Safety
/// The boot phase, in HYP, at its load address with the MMU off.
pub unsafe fn set_boot_vectors() {
    unsafe extern "C" {
        static hypfw_boot_vectors: u8;
    }
    // SAFETY: the table's address as this code runs (position independent, MMU off); the caller's
    // obligation makes it the right one for HYP now.
    unsafe { regs::write::<regs::Hvbar>(&raw const hypfw_boot_vectors as u32) };
}

/// Whether a read of `width` (1 or 4) bytes at the physical address `addr` completes, rather than
/// aborting (nothing answers there): the boot phase's probe of a device before it uses it. Only
/// with the boot phase's vectors in place (see [`set_boot_vectors`]), which turn an abort on the
/// probe's load into a "no".
///
/// # Safety
/// The boot phase, MMU off; `addr` is a device register whose read has no effect that matters
/// (a UART's status register).
pub unsafe fn probe_read(addr: usize, width: u8) -> bool {
    unsafe extern "C" {
        fn hypfw_boot_probe(addr: usize, width: u32) -> u32;
    }
    // SAFETY: the caller's obligations; the probe clobbers only caller-saved registers.
    unsafe { hypfw_boot_probe(addr, width as u32) != 0 }
}

/// Is this CPU in Secure state? Only asked in SVC on a CPU with the Security Extensions: reading
/// SCR is UNDEFINED from Non-secure PL1, so the probe runs with VBAR pointing at a table whose
/// undefined-instruction entry skips the read and reports "Non-secure".
pub fn probe_secure_svc() -> bool {
    unsafe extern "C" {
        fn hypfw_probe_secure() -> u32;
    }
    // SAFETY: the probe saves and restores VBAR and SCTLR, takes at most its own undefined
    // instruction exception, and only reads SCR.
    unsafe { hypfw_probe_secure() != 0 }
}

/// Semihosting (ARM DUI 0471) as an extra channel to a test host, safe without one
/// (`boot/semihost.S` probes for it).
pub mod semihosting {
    const SYS_WRITE0: u32 = 0x04;
    const SYS_EXIT_EXTENDED: u32 = 0x20;
    const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x2_0026;

    unsafe extern "C" {
        fn hypfw_semihosting(op: u32, arg: u32) -> u32;
    }

    /// Write a NUL-terminated text to a host's console (nothing without a host, or without the
    /// NUL).
    pub fn write0(text: &[u8]) {
        if text.last() != Some(&0) {
            return;
        }
        // SAFETY: as in `exit`; the host reads the text up to its NUL, which the check above
        // keeps inside the slice.
        unsafe { hypfw_semihosting(SYS_WRITE0, text.as_ptr() as u32) };
    }

    /// Ask a host to end the program with exit status `code`; returns when there is no host.
    pub fn exit(code: u32) {
        let block = [ADP_STOPPED_APPLICATION_EXIT, code];
        // SAFETY: the routine points the current mode's vectors at its own probe table for the
        // one SVC and restores them, so without a host it returns instead of taking a live
        // vector; with one, the host reads the two-word block, which lives on this stack.
        unsafe { hypfw_semihosting(SYS_EXIT_EXTENDED, block.as_ptr() as u32) };
    }
}

/// Deliberate faults, for the self-test's proof that a fault in HYP is reported, not hung on.
pub mod faults {
    /// Execute an undefined instruction in HYP.
    pub fn undefined() {
        // SAFETY: UDF takes the undefined-instruction exception, whose vector reports and stops.
        unsafe { core::arch::asm!("udf #0x42") };
    }

    /// Move SP to `sp` and push four words there: with `sp` 8 bytes above a stack's guard page
    /// the push faults half in the guard, leaving SP where the vector's own push would fault too.
    pub fn push_at(sp: usize) -> ! {
        // SAFETY: deliberately faults; the data-abort vector reports and stops, so nothing
        // returns here and the moved SP is never used by Rust code again.
        unsafe { core::arch::asm!("mov sp, {t}", "push {{r0-r3}}", "udf #0x43", t = in(reg) sp, options(noreturn)) }
    }
}
