//! The console: one UART, chosen from the device tree, behind a tiny global.
//!
//! No UART address is built in: until the device tree names the console, lines are kept in a
//! small buffer and written out as soon as a UART is installed (a fatal error before that goes to
//! a semihosting host, where one listens). During the boot phase the MMU is off and only the boot
//! CPU runs, so the console is used without a lock (a spin lock's LDREX/STREX on Strongly-ordered
//! memory is not guaranteed to work). Once the runtime runs with its MMU on, `enable_locking`
//! makes every line atomic across CPUs.

use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use hypfw_core::platform::dtb::UartKind;
use hypfw_uart::Mmio;

/// The console's driver: one of `hypfw-uart`'s, over real MMIO.
pub type Uart = hypfw_uart::Uart<Mmio>;

/// The driver for a UART of `kind` at `base`.
///
/// # Safety
/// 1. `base` is the address of a UART of `kind` in the current translation regime;
/// 2. it stays valid (mapped, as device memory) for as long as the returned value is used;
/// 3. nothing else drives that UART meanwhile.
unsafe fn uart(kind: UartKind, base: usize) -> Option<Uart> {
    let ptr = NonNull::new(base as *mut u8)?;
    match kind {
        // SAFETY: obligations 1-3 are Uart::pl011's, for the same base.
        UartKind::Pl011 => Some(unsafe { Uart::pl011(ptr) }),
        // SAFETY: obligations 1 and 2 are Mmio::new's (the drivers' offsets lie in the block of a
        // UART of this kind); obligation 3 makes the accesses exclusive.
        _ => Uart::with_regs(kind, unsafe { Mmio::new(ptr) }),
    }
}

/// Bytes kept before a console is known: the boot log up to the device tree is well under this.
const EARLY_BYTES: usize = 2048;

/// Lines of the early buffer whose ends are kept (the detail marks cover as many).
const EARLY_MARKED: usize = 32;

struct Console {
    uart: UnsafeCell<Option<Uart>>,
}

/// What is kept while no UART is installed; all zero at first, so it lies in `.bss` (not in the
/// image file, as the whole console did when the buffer shared a static with the UART's
/// `Option`, whose `None` is not all zero). The runtime's copy starts with it empty.
struct Early {
    /// Lines written while no UART was installed, NUL-terminated; `early_len` bytes used.
    early: UnsafeCell<[u8; EARLY_BYTES]>,
    early_len: UnsafeCell<usize>,
    /// Where each of the first EARLY_MARKED kept lines ends in `early`, so that `install` writes
    /// them out without searching for their ends.
    early_ends: UnsafeCell<[u16; EARLY_MARKED]>,
}

// SAFETY: the UART is reached only through `install` (a single CPU runs) and `print`, which holds
// LOCK whenever more than one CPU can run (see module docs).
unsafe impl Sync for Console {}
// SAFETY: the buffer is written only while no UART is installed, which is the boot phase on one
// CPU (`print` does not keep lines once locking is on), and read by `install` and the stop path
// on that CPU.
unsafe impl Sync for Early {}

static CONSOLE: Console = Console { uart: UnsafeCell::new(None) };
static EARLY: Early = Early {
    early: UnsafeCell::new([0; EARLY_BYTES]),
    early_len: UnsafeCell::new(0),
    early_ends: UnsafeCell::new([0; EARLY_MARKED]),
};
static LOCKING: AtomicBool = AtomicBool::new(false);
/// The UART was given up: it stopped taking bytes (a wait for room ran out,
/// `hypfw_uart::ROOM_WAIT_POLLS`), or the boot phase's probe found nothing answering at its
/// address ([`give_up`]). It is dropped and not installed again, and lines are kept as when there is
/// none. One of the `GIVEN_UP_*` values.
static GIVEN_UP: AtomicU8 = AtomicU8::new(GIVEN_UP_NO);
const GIVEN_UP_NO: u8 = 0;
/// It stopped taking bytes.
const GIVEN_UP_NO_ROOM: u8 = 1;
/// Nothing answered at its address: it was never used.
const GIVEN_UP_NO_ANSWER: u8 = 2;
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Whether detail lines ([`detail!`](crate::detail)) are written: `hypfw.verbose`. Until the device
/// tree has been read ([`set_verbose`]) it is not known yet: detail lines are kept like the others
/// and marked in `EARLY_DETAIL`, and `install` leaves them out unless the log is verbose.
static VERBOSE: AtomicU8 = AtomicU8::new(VERBOSE_UNKNOWN);
const VERBOSE_UNKNOWN: u8 = 2;
/// Lines kept in the early buffer so far, and which of the first EARLY_MARKED are detail lines.
static EARLY_LINES: AtomicU32 = AtomicU32::new(0);
static EARLY_DETAIL: AtomicU32 = AtomicU32::new(0);

/// The boot options are known: write detail lines from now on only if `verbose`.
pub fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose as u8, Ordering::Relaxed);
}

/// Install the console UART, and write out what was kept while there was none.
///
/// # Safety
/// 1. only one CPU runs hypfw code (nobody else can be in `print`);
/// 2. the obligations of [`uart`] for `kind` and `base`.
pub unsafe fn install(kind: UartKind, base: usize) -> bool {
    // SAFETY: obligation 1: no reference into CONSOLE exists while it is replaced or while the
    // kept lines are read and cleared; obligation 2 is uart()'s contract, for the same kind and
    // base.
    unsafe {
        if muted() {
            return false;
        }
        *CONSOLE.uart.get() = uart(kind, base);
        let Some(u) = (*CONSOLE.uart.get()).as_mut() else { return false };
        let len = *EARLY.early_len.get();
        if len > 0 {
            let kept = &(&*EARLY.early.get())[..len];
            let ends = &*EARLY.early_ends.get();
            let detail = EARLY_DETAIL.load(Ordering::Relaxed);
            let all = VERBOSE.load(Ordering::Relaxed) != 0;
            let marked = (EARLY_LINES.load(Ordering::Relaxed) as usize).min(EARLY_MARKED);
            let mut start = 0;
            let mut ok = true;
            for (i, &end) in ends[..marked].iter().enumerate() {
                if ok && (all || detail & 1 << i == 0) {
                    ok = u.write_text(&kept[start..end as usize]);
                }
                start = end as usize;
            }
            // Lines past the marked ones are never detail lines left out.
            if !(ok && u.write_text(&kept[start..])) {
                // The UART takes no bytes: keep the lines (for a test host at a stop).
                mute();
                return false;
            }
            *EARLY.early_len.get() = 0;
            (*EARLY.early.get())[0] = 0;
        }
        EARLY_LINES.store(0, Ordering::Relaxed);
        EARLY_DETAIL.store(0, Ordering::Relaxed);
        true
    }
}

/// No UART from now on (the runtime's copy of the image starts with the boot copy's state, whose
/// UART address is physical): lines are kept again until one is installed.
///
/// # Safety
/// Only one CPU runs hypfw code.
pub unsafe fn uninstall() {
    // SAFETY: the single CPU holds no reference into CONSOLE.
    unsafe { *CONSOLE.uart.get() = None };
}

/// The UART gave a byte up: drop it for good (see [`GIVEN_UP`]). Called only where CONSOLE is
/// used exclusively: by `install` (one CPU) or by `print` (one CPU, or LOCK held).
fn mute() {
    GIVEN_UP.store(GIVEN_UP_NO_ROOM, Ordering::Relaxed);
    // SAFETY: the caller's exclusivity (above); no reference into CONSOLE is live across this.
    unsafe { *CONSOLE.uart.get() = None };
}

/// Never install the device tree's UART: nothing answers at its address (the boot phase's probe).
pub fn give_up() {
    GIVEN_UP.store(GIVEN_UP_NO_ANSWER, Ordering::Relaxed);
}

/// Whether the console was given up because nothing answered at its address.
pub fn no_answer() -> bool {
    GIVEN_UP.load(Ordering::Relaxed) == GIVEN_UP_NO_ANSWER
}

/// Whether the console's UART was given up (see [`GIVEN_UP`]).
pub fn muted() -> bool {
    GIVEN_UP.load(Ordering::Relaxed) != GIVEN_UP_NO
}

/// Whether lines reach a UART.
pub fn has_uart() -> bool {
    // SAFETY: a read of the Option's discriminant; it is only written while one CPU runs.
    unsafe { (*CONSOLE.uart.get()).is_some() }
}

/// The lines kept while no UART was installed, NUL-terminated (for a semihosting host).
pub fn kept_lines() -> &'static [u8] {
    // SAFETY: read-only view; the buffer is only written by `print` on the single boot CPU before
    // a UART exists, and the caller (the stop path) runs after those writes.
    unsafe {
        let len = *EARLY.early_len.get();
        &(&*EARLY.early.get())[..=len]
    }
}

/// Hand the kept lines to a semihosting host, where one listens (test builds), and empty the
/// buffer: for a console given up during the boot phase (see [`muted`]), whose lines are kept.
pub fn kept_lines_to_host() {
    if cfg!(feature = "semihosting") {
        let kept = kept_lines();
        crate::arch::semihosting::write0(kept);
        if kept.len() > 1 && kept[kept.len() - 2] != b'\n' {
            // The buffer filled up inside a line.
            crate::arch::semihosting::write0(b" [...]\n\0");
        }
    }
    // SAFETY: the boot phase on one CPU (no UART installed, so `print` keeps lines only here).
    unsafe {
        *EARLY.early_len.get() = 0;
        (*EARLY.early.get())[0] = 0;
    }
}

/// Keep `s` in the early buffer (boot phase, no UART yet); what does not fit is dropped.
struct Keeper;

impl Write for Keeper {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: only called from `print` while no UART is installed, which is the boot phase on
        // one CPU (or the stop path after it): nobody else touches the buffer.
        unsafe {
            let buf = &mut *EARLY.early.get();
            let len = &mut *EARLY.early_len.get();
            let n = s.len().min(EARLY_BYTES - 1 - *len);
            // Byte by byte: the pieces are a few bytes each, which a call to `memcpy` (unaligned)
            // handles at several times the cost; volatile, so the loop does not become one.
            for (d, &b) in buf[*len..*len + n].iter_mut().zip(s.as_bytes()) {
                core::ptr::write_volatile(d, b);
            }
            *len += n;
            buf[*len] = 0;
        }
        Ok(())
    }
}

/// From now on lines are written under a spin lock (MMU and caches are on).
pub fn enable_locking() {
    LOCKING.store(true, Ordering::Release);
}

struct Writer<'a>(&'a mut Uart);

impl Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.0.write_text(s.as_bytes()) { Ok(()) } else { Err(fmt::Error) }
    }
}

/// Write one formatted line (the caller's text already ends in a newline).
pub fn print(args: fmt::Arguments) {
    let _guard = LOCKING.load(Ordering::Acquire).then(|| LOCK.lock());
    // SAFETY: either a single CPU runs (install's obligation until enable_locking), or LOCK is
    // held: this is the only reference into CONSOLE.
    match unsafe { (*CONSOLE.uart.get()).as_mut() } {
        Some(u) => {
            // Only the UART's give-up fails a write: from now on there is no console.
            let failed = Writer(u).write_fmt(args).is_err();
            if failed {
                mute();
            }
        }
        None if !LOCKING.load(Ordering::Relaxed) => {
            let n = EARLY_LINES.fetch_add(1, Ordering::Relaxed) as usize;
            let _ = Keeper.write_fmt(args);
            if n < EARLY_MARKED {
                // SAFETY: as in Keeper::write_str: the boot phase on one CPU, no UART yet.
                unsafe { (*EARLY.early_ends.get())[n] = *EARLY.early_len.get() as u16 };
            }
        }
        None => {}
    }
}

/// Write one detail line: only with `hypfw.verbose` (see [`VERBOSE`]); skipped before any
/// formatting when the log is short.
pub fn print_detail(args: fmt::Arguments) {
    match VERBOSE.load(Ordering::Relaxed) {
        0 => {}
        VERBOSE_UNKNOWN if !has_uart() => {
            let n = EARLY_LINES.load(Ordering::Relaxed);
            if n < EARLY_MARKED as u32 {
                EARLY_DETAIL.fetch_or(1 << n, Ordering::Relaxed);
            }
            print(args)
        }
        _ => print(args),
    }
}

/// Print a console line starting with `hypfw: `.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::drivers::console::print(format_args!("hypfw: {}\n", format_args!($($arg)*)))
    };
}

/// Print a detail line of the full boot log (`hypfw.verbose`), starting with `hypfw: `. Short
/// logs (the default) leave these out: what hypfw found and did step by step, not what a user must
/// see (the summary, warnings and errors, which use [`log!`](crate::log)).
#[macro_export]
macro_rules! detail {
    ($($arg:tt)*) => {
        $crate::drivers::console::print_detail(format_args!("hypfw: {}\n", format_args!($($arg)*)))
    };
}

/// How [`List`] writes each number.
#[derive(Clone, Copy)]
pub enum Radix {
    /// `12`
    Dec,
    /// `c`
    BareHex,
    /// `0000000c`
    Hex08,
}

/// A list of numbers as `[a, b, c]`, for console lines. Written here rather than with `{:?}`:
/// the debug formatting of slices and `Result`s pulls `core::fmt`'s builders into the image.
pub struct List<'a, T>(pub &'a [T], pub Radix);

impl<T: Copy + Into<u64>> fmt::Display for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, &v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let v: u64 = v.into();
            match self.1 {
                Radix::Dec => write!(f, "{v}")?,
                Radix::BareHex => write!(f, "{v:x}")?,
                Radix::Hex08 => write!(f, "{v:08x}")?,
            }
        }
        f.write_str("]")
    }
}
