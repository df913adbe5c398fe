//! Every way hypfw stops: success (power off), reset, and `fatal:` (a message, then a failing
//! exit). A stop is never silent and never a loop: the line is printed first; power goes off
//! through the platform's PSCI where there is one; a semihosting host, where one listens, is an
//! extra channel (the only one without PSCI, and the one that carries a failing status to a test);
//! otherwise the CPU halts after saying so. An exception inside the stop path halts.

use crate::arch::{self, Mode};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use hypfw_core::services::psci;

static STOPPING: AtomicBool = AtomicBool::new(false);

/// Whether PSCI SYSTEM_OFF can be used to power off: set by the runtime (in its own copy of the
/// image) once it knows the platform has PSCI and hypfw is not the PSCI provider itself.
pub static PSCI_OFF_AVAILABLE: AtomicBool = AtomicBool::new(false);

/// The runtime VA of Versatile Express's system-register page, where the board powers off and
/// resets without PSCI (`services::release::vexpress_power`); 0 elsewhere. Set by the runtime
/// where it maps that page (for a payload).
pub static VEXPRESS_SYSREG: AtomicU32 = AtomicU32::new(0);

/// Power the board off, or reset it, through its own controls where hypfw knows them; returns
/// where it does not, or if the board went on.
fn board_power(reboot: bool) {
    let va = VEXPRESS_SYSREG.load(Ordering::Relaxed);
    if va != 0 && arch::in_mode(Mode::Hyp) {
        for (offset, value) in hypfw_core::services::release::vexpress_power(reboot) {
            // SAFETY: the page is mapped as Device in the runtime table at `va` (set only then);
            // SYS_CFGDATA and SYS_CFGCTRL are words of it.
            unsafe { core::ptr::write_volatile((va + offset) as *mut u32, value) };
        }
        arch::dsb_ish_isb();
        // The board takes a moment (QEMU ends the run after this CPU goes on): a second before
        // the line that says it did not.
        let t0 = arch::cntpct();
        while arch::cntpct().wrapping_sub(t0) < arch::cntfrq().max(1_000_000) as u64 {}
    }
}

fn halt() -> ! {
    loop {
        arch::wfi();
    }
}

/// Tell a semihosting host (test builds) to exit with `code`; returns when there is none.
fn host_exit(code: u32) {
    if cfg!(feature = "semihosting") {
        arch::semihosting::exit(code);
    }
}

/// Ask the platform's PSCI for `fid` (SYSTEM_OFF or SYSTEM_RESET) where it can be used; returns
/// if it cannot, or if the call returned.
fn psci_power(fid: u32, what: &str) {
    if PSCI_OFF_AVAILABLE.load(Ordering::Relaxed) && arch::in_mode(Mode::Hyp) {
        arch::psci::call(fid);
        crate::log!("PSCI {what} returned");
    }
}

/// Power off (`reset` false) or reset through what hypfw has: a test host (a reset is an exit of
/// its own, status 2, so a test never mistakes it for success), the platform's PSCI, the board's
/// own controls. Returns where it has none of them.
fn power(reset: bool) {
    STOPPING.store(true, Ordering::Release);
    if reset {
        host_exit(2);
        psci_power(psci::SYSTEM_RESET, "SYSTEM_RESET");
    } else {
        psci_power(psci::SYSTEM_OFF, "SYSTEM_OFF");
        host_exit(0);
    }
    board_power(reset);
}

/// The self-test passed: power off, else halt.
pub fn success() -> ! {
    power(false);
    crate::log!("no PSCI to power off with; halted");
    halt()
}

/// The payload's PSCI SYSTEM_OFF (`reset` false) or SYSTEM_RESET ([`power`]). Where hypfw has no
/// way to do it (the AST2600, where hypfw itself provides PSCI), the payload gets NOT_SUPPORTED
/// back rather than a halt: its own drivers may still do it (Linux goes on to its next restart
/// handler, the SoC's watchdog).
pub fn payload_power(reset: bool) -> u32 {
    power(reset);
    STOPPING.store(false, Ordering::Release);
    crate::log!(
        "no PSCI beneath hypfw and no board control it knows to {} with: NOT_SUPPORTED back to the payload, whose own drivers may",
        if reset { "reset" } else { "power off" }
    );
    psci::NOT_SUPPORTED
}

/// Print `hypfw: fatal: <message>` and stop with a failing exit.
pub fn fatal(args: core::fmt::Arguments) -> ! {
    if STOPPING.swap(true, Ordering::AcqRel) {
        // A fault while stopping: do not recurse.
        halt();
    }
    crate::drivers::console::print(format_args!("hypfw: fatal: {args}\n"));
    if cfg!(feature = "semihosting") && !crate::drivers::console::has_uart() {
        // No console yet (the device tree was not read): the kept lines, this one included, can
        // still reach a test host.
        arch::semihosting::write0(crate::drivers::console::kept_lines());
    }
    host_exit(1);
    crate::log!("halted (no host to report the failure to)");
    halt()
}

#[macro_export]
macro_rules! fatal {
    ($($arg:tt)*) => { $crate::base::stop::fatal(format_args!($($arg)*)) };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    match info.location() {
        Some(l) => fatal(format_args!("panic at {}:{}: {}", l.file(), l.line(), info.message())),
        None => fatal(format_args!("panic: {}", info.message())),
    }
}
