//! Every way hypfw stops: success (power off), and `fatal:` (a message, then a failing exit).
//! A stop is never silent: the line is printed first, and without a host to exit to the CPU
//! halts after saying so.

use crate::arch::{self, Mode};
use core::sync::atomic::{AtomicBool, Ordering};
use hypfw_core::services::psci;

static STOPPING: AtomicBool = AtomicBool::new(false);

/// Whether PSCI SYSTEM_OFF can be used to power off: set by the runtime (in its own copy of the
/// image) once it knows the platform has PSCI and hypfw is not the PSCI provider itself.
pub static PSCI_OFF_AVAILABLE: AtomicBool = AtomicBool::new(false);

fn halt() -> ! {
    loop {
        arch::wfi();
    }
}

/// Exit with `code` (0 = success) if a semihosting host is there (test builds).
fn host_exit(code: i32) {
    #[cfg(feature = "semihosting")]
    semihosting::process::exit(code);
    #[cfg(not(feature = "semihosting"))]
    let _ = code;
}

/// Exit to a test host with `code` if there is one, else ask the platform's PSCI for `fid`
/// (SYSTEM_OFF or SYSTEM_RESET), else halt; says which.
fn power(code: i32, fid: u32, what: &str) -> ! {
    host_exit(code);
    if PSCI_OFF_AVAILABLE.load(Ordering::Relaxed) && arch::in_mode(Mode::Hyp) {
        arch::psci::call(fid);
        crate::log!("PSCI {what} returned; halting");
    } else {
        crate::log!("no PSCI for {what}; halted");
    }
    halt()
}

/// The self-test passed, or the payload powered off: power off.
pub fn success() -> ! {
    power(0, psci::SYSTEM_OFF, "SYSTEM_OFF")
}

/// The payload asked for a reset: under a test host that is an exit of its own (status 2), so a
/// test never mistakes it for success; otherwise the platform's PSCI resets the machine.
pub fn reset() -> ! {
    power(2, psci::SYSTEM_RESET, "SYSTEM_RESET")
}

/// Print `hypfw: fatal: <message>` and stop with a failing exit.
pub fn fatal(args: core::fmt::Arguments) -> ! {
    if STOPPING.swap(true, Ordering::AcqRel) {
        // A fault while reporting a fault: do not recurse.
        host_exit(3);
        halt();
    }
    crate::drivers::console::print(format_args!("hypfw: fatal: {args}\n"));
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
