//! The console: one UART, chosen from the device tree, behind a tiny global.
//!
//! During the boot phase the MMU is off and only the boot CPU runs, so the console is used without
//! a lock (a spin lock's LDREX/STREX on Strongly-ordered memory is not guaranteed to work). Once
//! the runtime runs with its MMU on, `enable_locking` makes every line atomic across CPUs.

use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use hypfw_core::platform::dtb::UartKind;

pub enum Uart {
    Pl011(arm_pl011_uart::Uart<'static>),
    Ns16550(uart_16550::Uart16550<uart_16550::backend::MmioBackend>),
}

impl Uart {
    /// # Safety
    /// 1. `base` is the address of a UART of `kind` in the current translation regime;
    /// 2. it stays valid (mapped, as device memory) for as long as the returned value is used;
    /// 3. nothing else drives that UART meanwhile.
    pub unsafe fn new(kind: UartKind, base: usize) -> Option<Self> {
        let ptr = NonNull::new(base as *mut u8)?;
        match kind {
            UartKind::Pl011 => {
                // SAFETY: obligations 1-3 are UniqueMmioPointer's: a valid, exclusive pointer to
                // the PL011's register block for the pointer's lifetime.
                let regs = unsafe { safe_mmio::UniqueMmioPointer::new(ptr.cast()) };
                Some(Uart::Pl011(arm_pl011_uart::Uart::new(regs)))
            }
            UartKind::Ns16550 { reg_shift, .. } => {
                // SAFETY: obligations 1-3 are new_mmio's: the registers at `base`, `1 <<
                // reg_shift` bytes apart, valid and exclusive while the driver lives.
                unsafe { uart_16550::Uart16550::new_mmio(ptr, 1 << reg_shift) }.ok().map(Uart::Ns16550)
            }
            UartKind::Unsupported => None,
        }
    }

    fn put(&mut self, b: u8) {
        match self {
            Uart::Pl011(u) => {
                while u.is_tx_fifo_full() {}
                u.write_word(b);
            }
            Uart::Ns16550(u) => u.send_bytes_exact(&[b]),
        }
    }
}

struct Console {
    uart: UnsafeCell<Option<Uart>>,
}

// SAFETY: the UART is reached only through `install` (a single CPU runs) and `print`, which holds
// LOCK whenever more than one CPU can run (see module docs).
unsafe impl Sync for Console {}

static CONSOLE: Console = Console { uart: UnsafeCell::new(None) };
static LOCKING: AtomicBool = AtomicBool::new(false);
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Install the console UART.
///
/// # Safety
/// 1. only one CPU runs hypfw code (nobody else can be in `print`);
/// 2. the obligations of [`Uart::new`] for `kind` and `base`.
pub unsafe fn install(kind: UartKind, base: usize) -> bool {
    // SAFETY: obligation 1: no reference into CONSOLE exists while it is replaced; obligation 2
    // is Uart::new's contract, for the same kind and base.
    unsafe {
        *CONSOLE.uart.get() = Uart::new(kind, base);
        (*CONSOLE.uart.get()).is_some()
    }
}

/// From now on lines are written under a spin lock (MMU and caches are on).
pub fn enable_locking() {
    LOCKING.store(true, Ordering::Release);
}

struct Writer<'a>(&'a mut Uart);

impl Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.0.put(b'\r');
            }
            self.0.put(b);
        }
        Ok(())
    }
}

/// Write one formatted line (the caller's text already ends in a newline).
pub fn print(args: fmt::Arguments) {
    let _guard = LOCKING.load(Ordering::Acquire).then(|| LOCK.lock());
    // SAFETY: either a single CPU runs (install's obligation until enable_locking), or LOCK is
    // held: this is the only reference into CONSOLE.
    if let Some(u) = unsafe { (*CONSOLE.uart.get()).as_mut() } {
        let _ = Writer(u).write_fmt(args);
    }
}

/// Print a console line starting with `hypfw: `.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::drivers::console::print(format_args!("hypfw: {}\n", format_args!($($arg)*)))
    };
}
