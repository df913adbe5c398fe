//! hypfw's console UARTs. Each driver writes characters only: hypfw keeps the line settings the
//! bootloader chose (baud rate, framing, FIFO), so nothing here programs them.
//!
//! - PL011 (QEMU virt, vexpress): the `arm-pl011-uart` crate;
//! - 8250/16550 (TI OMAP, NVIDIA Tegra, Synopsys DesignWare, plain ns16550): the `uart_16550`
//!   crate, over a [`Backend`](uart_16550::backend::Backend) of ours that spaces the registers
//!   `1 << reg_shift` bytes apart and accesses them 1 or 4 bytes wide (`reg-io-width`), which the
//!   crate's own MMIO backend does not (it only does byte accesses);
//! - Samsung S3C/S5P/Exynos (Arndale): written here, because no crate drives it;
//! - STM32 USART of the H7 layout (STM32MP1) and the i.MX UART (i.MX6UL, i.MX7): written here,
//!   for the same reason (their HAL crates are for Cortex-M parts, or program the whole
//!   peripheral).
//!
//! The 16550, Samsung, STM32 and i.MX drivers are generic over [`Regs`], so the host tests run them against a
//! recording fake and check every register access; on the target [`Mmio`] does the accesses.
//!
//! Every wait for room in a transmitter is bounded ([`ROOM_WAIT_POLLS`]): a UART that never
//! makes room (unclocked, held in reset, not at the address the device tree gives, or a
//! transmitter stopped by flow control with nothing attached) makes `put` give the byte up and
//! return false, and the caller stops using it, instead of the firmware hanging with no output.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use core::ptr::NonNull;
use hypfw_core::abi::uart as abi_uart;
use hypfw_core::platform::dtb::UartKind;
use uart_16550::Uart16550;
use uart_16550::backend::Backend;

/// How many times a driver reads a transmitter's status for room before it gives a byte up: about
/// 0.4 s to 2 s at the 100-500 ns a device register read takes on these SoCs, where one
/// character at 9600 baud takes about 1 ms. Only a transmitter that has stopped waits this long.
pub const ROOM_WAIT_POLLS: u32 = 1 << 22;

/// Wait until `room()` says the transmitter takes a byte, at most [`ROOM_WAIT_POLLS`] more reads
/// after the first: true when it does. The first read is outside the loop, so the usual case (room
/// at once) costs no counter.
#[inline(always)]
fn wait_for_room(mut room: impl FnMut() -> bool) -> bool {
    room() || keep_waiting(room)
}

/// The rest of [`wait_for_room`], out of line: the loop's counter stays off the usual path (a
/// console line's bytes cost one instruction more each when it was set up there).
#[cold]
#[inline(never)]
fn keep_waiting(mut room: impl FnMut() -> bool) -> bool {
    let mut left = ROOM_WAIT_POLLS;
    while left != 0 {
        core::hint::spin_loop();
        if room() {
            return true;
        }
        left -= 1;
    }
    false
}

/// Register access at byte offsets from a UART's base.
pub trait Regs {
    fn read8(&mut self, off: usize) -> u8;
    fn write8(&mut self, off: usize, v: u8);
    fn read32(&mut self, off: usize) -> u32;
    fn write32(&mut self, off: usize, v: u32);
}

/// A UART's registers in memory-mapped I/O.
pub struct Mmio {
    base: NonNull<u8>,
}

impl Mmio {
    /// # Safety
    /// 1. `base` is the address, in the current translation regime, of a UART's register block,
    ///    mapped as device memory for as long as the value is used;
    /// 2. the offsets the drivers use (at most 0x7C: register 31 of a 16550 with 4-byte spacing,
    ///    or Samsung's UTXH at 0x20) lie in that block.
    pub unsafe fn new(base: NonNull<u8>) -> Self {
        Mmio { base }
    }
}

impl Regs for Mmio {
    fn read8(&mut self, off: usize) -> u8 {
        // SAFETY: new's obligations: the register lies in the mapped block; volatile, as MMIO.
        unsafe { self.base.add(off).read_volatile() }
    }
    fn write8(&mut self, off: usize, v: u8) {
        // SAFETY: as for read8.
        unsafe { self.base.add(off).write_volatile(v) }
    }
    fn read32(&mut self, off: usize) -> u32 {
        // SAFETY: new's obligations; the drivers use 4-byte aligned offsets for word accesses.
        unsafe { self.base.add(off).cast::<u32>().read_volatile() }
    }
    fn write32(&mut self, off: usize, v: u32) {
        // SAFETY: as for read32.
        unsafe { self.base.add(off).cast::<u32>().write_volatile(v) }
    }
}

/// `uart_16550`'s view of a 16550 whose registers are `1 << shift` bytes apart, accessed `width`
/// (1 or 4) bytes at a time.
pub struct Ns16550Regs<R: Regs> {
    regs: R,
    shift: u8,
    width: u8,
}

impl<R: Regs> Backend for Ns16550Regs<R> {
    unsafe fn read(&mut self, register_offset: u8) -> u8 {
        let off = (register_offset as usize) << self.shift;
        if self.width == 4 { self.regs.read32(off) as u8 } else { self.regs.read8(off) }
    }
    unsafe fn write(&mut self, register_offset: u8, value: u8) {
        let off = (register_offset as usize) << self.shift;
        if self.width == 4 { self.regs.write32(off, value as u32) } else { self.regs.write8(off, value) }
    }
}

/// Samsung S3C/S5P/Exynos UART registers (Exynos 5250 user manual, UART chapter; Linux's
/// `samsung_tty.c` uses the same).
pub mod samsung {
    pub const UFCON: usize = 0x08;
    pub const UTRSTAT: usize = 0x10;
    pub const UFSTAT: usize = 0x18;
    pub const UTXH: usize = 0x20;
    /// UFCON: FIFOs enabled.
    pub const UFCON_FIFO_ENABLE: u32 = 1 << 0;
    /// UTRSTAT: transmit buffer and shifter empty.
    pub const UTRSTAT_TX_EMPTY: u32 = 1 << 2;
}

/// A Samsung UART, writing as the bootloader set it up: with FIFOs on, wait while the transmit
/// FIFO is full; without, until the transmitter is empty.
pub struct Samsung<R: Regs> {
    regs: R,
    tx_full_bit: u8,
}

impl<R: Regs> Samsung<R> {
    pub fn new(regs: R, tx_full_bit: u8) -> Self {
        Samsung { regs, tx_full_bit: tx_full_bit.min(31) }
    }

    /// Write `b` once there is room; false (and nothing written) when none came in time.
    pub fn put(&mut self, b: u8) -> bool {
        let room = if self.regs.read32(samsung::UFCON) & samsung::UFCON_FIFO_ENABLE != 0 {
            let full = 1 << self.tx_full_bit;
            wait_for_room(|| self.regs.read32(samsung::UFSTAT) & full == 0)
        } else {
            wait_for_room(|| self.regs.read32(samsung::UTRSTAT) & samsung::UTRSTAT_TX_EMPTY != 0)
        };
        if room {
            self.regs.write32(samsung::UTXH, b as u32);
        }
        room
    }
}

/// STM32 USART registers of the H7 layout (RM0436 for STM32MP157, USART chapter; Linux's
/// `stm32-usart` driver uses the same offsets for `st,stm32h7-uart`).
pub mod stm32 {
    pub const ISR: usize = 0x1C;
    pub const TDR: usize = 0x28;
    /// ISR: transmit data register empty (with the FIFO enabled: transmit FIFO not full).
    pub const ISR_TXE: u32 = 1 << 7;
}

/// i.MX UART registers (i.MX6/i.MX7 reference manuals, UART chapter; Linux's `imx` serial
/// driver and U-Boot's `serial_mxc` use the same).
pub mod imx {
    pub const UTXD: usize = 0x40;
    pub const UTS: usize = 0xB4;
    /// UTS: the transmit FIFO is full.
    pub const UTS_TXFULL: u32 = 1 << 4;
}

/// A UART driven through one status word and one data register, writing as the bootloader set it
/// up: wait until `status & mask` says there is room (set, or clear with `room_when_clear`), then
/// write the byte as a word. The STM32 USART (ISR.TXE set: room) and the i.MX UART (UTS.TXFULL
/// clear: room) are this.
pub struct Polled<R: Regs> {
    regs: R,
    status: usize,
    mask: u32,
    room_when_clear: bool,
    data: usize,
}

impl<R: Regs> Polled<R> {
    /// STM32 USART, H7 layout.
    pub fn stm32(regs: R) -> Self {
        Polled { regs, status: stm32::ISR, mask: stm32::ISR_TXE, room_when_clear: false, data: stm32::TDR }
    }
    /// i.MX UART.
    pub fn imx(regs: R) -> Self {
        Polled { regs, status: imx::UTS, mask: imx::UTS_TXFULL, room_when_clear: true, data: imx::UTXD }
    }
    /// Write `b` once there is room; false (and nothing written) when none came in time.
    pub fn put(&mut self, b: u8) -> bool {
        let (status, mask, when_clear) = (self.status, self.mask, self.room_when_clear);
        let room = wait_for_room(|| (self.regs.read32(status) & mask == 0) == when_clear);
        if room {
            self.regs.write32(self.data, b as u32);
        }
        room
    }
}

/// The register a driver of `kind` polls before each byte, as (offset, access width in bytes):
/// what a probe reads to learn whether anything answers at a UART's address. None for kinds
/// without a driver.
pub fn status_register(kind: UartKind) -> Option<(usize, u8)> {
    match kind {
        UartKind::Pl011 => Some((abi_uart::PL011_FR as usize, 4)),
        UartKind::Ns16550 { reg_shift, io_width } => {
            Some(((abi_uart::NS16550_LSR as usize) << reg_shift.min(3), io_width))
        }
        UartKind::Samsung { .. } => Some((samsung::UFCON, 4)),
        UartKind::Stm32 => Some((stm32::ISR, 4)),
        UartKind::Imx => Some((imx::UTS, 4)),
        UartKind::Unsupported => None,
    }
}

/// A console UART of any kind hypfw drives.
pub enum Uart<R: Regs> {
    Pl011(arm_pl011_uart::Uart<'static>),
    Ns16550(Uart16550<Ns16550Regs<R>>),
    Samsung(Samsung<R>),
    Polled(Polled<R>),
}

impl<R: Regs> Uart<R> {
    /// The 16550, Samsung, STM32 or i.MX driver of `kind` over `regs`; None for the PL011 (see
    /// [`Uart::pl011`]) and for kinds without a driver.
    pub fn with_regs(kind: UartKind, regs: R) -> Option<Self> {
        match kind {
            UartKind::Ns16550 { reg_shift, io_width } => {
                let backend = Ns16550Regs { regs, shift: reg_shift.min(3), width: io_width };
                // SAFETY: the backend reaches register i at i << shift, and the caller of the
                // register access (Mmio::new, or a test fake) vouches for the whole block.
                Some(Uart::Ns16550(unsafe { Uart16550::new_with_backend(backend) }))
            }
            UartKind::Samsung { tx_full_bit } => Some(Uart::Samsung(Samsung::new(regs, tx_full_bit))),
            UartKind::Stm32 => Some(Uart::Polled(Polled::stm32(regs))),
            UartKind::Imx => Some(Uart::Polled(Polled::imx(regs))),
            UartKind::Pl011 | UartKind::Unsupported => None,
        }
    }

    /// A PL011 at `base`.
    ///
    /// # Safety
    /// 1. `base` is the address, in the current translation regime, of a PL011's register block,
    ///    mapped as device memory for as long as the value is used;
    /// 2. nothing else drives that PL011 meanwhile.
    pub unsafe fn pl011(base: NonNull<u8>) -> Self {
        // SAFETY: obligations 1 and 2 are UniqueMmioPointer's: valid and exclusive for its life.
        let regs = unsafe { safe_mmio::UniqueMmioPointer::new(base.cast()) };
        Uart::Pl011(arm_pl011_uart::Uart::new(regs))
    }

    /// Write one byte, waiting for room in the transmitter first (at most [`ROOM_WAIT_POLLS`]
    /// reads): false when no room came and the byte was given up. A caller should stop using a
    /// UART that returned false: every later byte would wait as long.
    pub fn put(&mut self, b: u8) -> bool {
        match self {
            Uart::Pl011(u) => pl011_put(u, b),
            Uart::Ns16550(u) => wait_for_room(|| u.try_send_byte(b).is_ok()),
            Uart::Samsung(u) => u.put(b),
            Uart::Polled(u) => u.put(b),
        }
    }

    /// Write `text` as [`put`](Self::put) would byte by byte, each `\n` preceded by a `\r` (a
    /// terminal's new line), up to the first byte given up: false then. For the PL011 the
    /// driver is chosen once for the whole text, not per byte: the console's lines cost about 9
    /// instructions a byte this way instead of 24.
    pub fn write_text(&mut self, text: &[u8]) -> bool {
        match self {
            Uart::Pl011(u) => pl011_text(u, text),
            _ => crlf(text, |b| self.put(b)),
        }
    }
}

/// Wait for room in a PL011's transmit FIFO (UARTFR.TXFF clear), then write one byte.
#[inline(always)]
fn pl011_put(u: &mut arm_pl011_uart::Uart<'static>, b: u8) -> bool {
    let room = wait_for_room(|| !u.is_tx_fifo_full());
    if room {
        u.write_word(b);
    }
    room
}

/// [`Uart::write_text`] for the PL011, the console of QEMU and most boards: out of line so that
/// its loop keeps everything in registers (9 instructions a byte).
#[inline(never)]
fn pl011_text(u: &mut arm_pl011_uart::Uart<'static>, text: &[u8]) -> bool {
    crlf(text, |b| pl011_put(u, b))
}

/// Each byte of `text` to `put`, a `\r` before every `\n`, until `put` gives one up: false then.
#[inline(always)]
fn crlf(text: &[u8], mut put: impl FnMut(u8) -> bool) -> bool {
    for &b in text {
        if b == b'\n' && !put(b'\r') {
            return false;
        }
        if !put(b) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::vec::Vec;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Op {
        R8(usize),
        W8(usize, u8),
        R32(usize),
        W32(usize, u32),
    }

    /// Records every access; reads answer from `values`, where a register may hold a sequence
    /// (one value per read, the last one repeating).
    #[derive(Default)]
    struct Recorder {
        ops: Vec<Op>,
        values: HashMap<usize, Vec<u32>>,
    }

    impl Recorder {
        fn with(values: &[(usize, &[u32])]) -> Self {
            Recorder { ops: Vec::new(), values: values.iter().map(|(o, v)| (*o, v.to_vec())).collect() }
        }
        fn value(&mut self, off: usize) -> u32 {
            match self.values.get_mut(&off) {
                Some(v) if v.len() > 1 => v.remove(0),
                Some(v) => v[0],
                None => 0,
            }
        }
    }

    impl Regs for &mut Recorder {
        fn read8(&mut self, off: usize) -> u8 {
            self.ops.push(Op::R8(off));
            self.value(off) as u8
        }
        fn write8(&mut self, off: usize, v: u8) {
            self.ops.push(Op::W8(off, v));
        }
        fn read32(&mut self, off: usize) -> u32 {
            self.ops.push(Op::R32(off));
            self.value(off)
        }
        fn write32(&mut self, off: usize, v: u32) {
            self.ops.push(Op::W32(off, v));
        }
    }

    const THRE: u32 = 1 << 5;

    fn send(kind: UartKind, rec: &mut Recorder, bytes: &[u8]) {
        let mut u = Uart::with_regs(kind, rec).unwrap();
        for &b in bytes {
            u.put(b);
        }
    }

    /// BeagleBoard-X15 (ti,dra742-uart): registers 4 bytes apart, byte accesses: LSR is at 0x14.
    /// Nothing but LSR is read and nothing but THR written: the bootloader's settings stay.
    #[test]
    fn omap_waits_for_the_transmitter_then_writes_thr() {
        let mut rec = Recorder::with(&[(0x14, &[0, 0, THRE])]);
        send(UartKind::Ns16550 { reg_shift: 2, io_width: 1 }, &mut rec, b"h");
        assert_eq!(rec.ops, [Op::R8(0x14), Op::R8(0x14), Op::R8(0x14), Op::W8(0, b'h')]);
    }

    /// Banana Pi (snps,dw-apb-uart, reg-io-width = <4>): 32-bit accesses only.
    #[test]
    fn designware_uses_word_accesses() {
        let mut rec = Recorder::with(&[(0x14, &[THRE])]);
        send(UartKind::Ns16550 { reg_shift: 2, io_width: 4 }, &mut rec, b"ok");
        assert_eq!(rec.ops, [Op::R32(0x14), Op::W32(0, b'o' as u32), Op::R32(0x14), Op::W32(0, b'k' as u32)]);
    }

    #[test]
    fn plain_16550_is_byte_spaced() {
        let mut rec = Recorder::with(&[(5, &[THRE])]);
        send(UartKind::Ns16550 { reg_shift: 0, io_width: 1 }, &mut rec, b"x");
        assert_eq!(rec.ops, [Op::R8(5), Op::W8(0, b'x')]);
    }

    /// Arndale (samsung,exynos4210-uart) with FIFOs on: wait while UFSTAT bit 24 says full.
    #[test]
    fn samsung_with_fifo_waits_while_full() {
        let mut rec = Recorder::with(&[(samsung::UFCON, &[1]), (samsung::UFSTAT, &[1 << 24, 1 << 24, 0x3F])]);
        send(UartKind::Samsung { tx_full_bit: 24 }, &mut rec, b"a");
        assert_eq!(
            rec.ops,
            [
                Op::R32(samsung::UFCON),
                Op::R32(samsung::UFSTAT),
                Op::R32(samsung::UFSTAT),
                Op::R32(samsung::UFSTAT),
                Op::W32(samsung::UTXH, b'a' as u32)
            ]
        );
    }

    /// Without FIFOs: wait until UTRSTAT says the transmitter is empty.
    #[test]
    fn samsung_without_fifo_waits_for_an_empty_transmitter() {
        let mut rec = Recorder::with(&[(samsung::UFCON, &[0]), (samsung::UTRSTAT, &[0, 0b110])]);
        send(UartKind::Samsung { tx_full_bit: 24 }, &mut rec, b"b");
        assert_eq!(
            rec.ops,
            [
                Op::R32(samsung::UFCON),
                Op::R32(samsung::UTRSTAT),
                Op::R32(samsung::UTRSTAT),
                Op::W32(samsung::UTXH, b'b' as u32)
            ]
        );
    }

    /// STM32MP157: wait while ISR.TXE is clear, then write TDR (a word access).
    #[test]
    fn stm32_waits_for_room_then_writes_tdr() {
        let mut rec = Recorder::with(&[(stm32::ISR, &[0, 0x40, 0xC0])]);
        send(UartKind::Stm32, &mut rec, b"c");
        assert_eq!(
            rec.ops,
            [Op::R32(stm32::ISR), Op::R32(stm32::ISR), Op::R32(stm32::ISR), Op::W32(stm32::TDR, b'c' as u32)]
        );
    }

    /// i.MX7D: wait while UTS.TXFULL is set, then write UTXD.
    #[test]
    fn imx_waits_while_the_fifo_is_full_then_writes_utxd() {
        let mut rec = Recorder::with(&[(imx::UTS, &[0x10, 0x10, 0x60])]);
        send(UartKind::Imx, &mut rec, b"d");
        assert_eq!(rec.ops, [Op::R32(imx::UTS), Op::R32(imx::UTS), Op::R32(imx::UTS), Op::W32(imx::UTXD, b'd' as u32)]);
    }

    /// The Raspberry Pi's mini UART as a 16550: LSR at 5 << 2, word accesses.
    #[test]
    fn bcm2835_mini_uart_is_a_word_spaced_16550() {
        let mut rec = Recorder::with(&[(0x14, &[0, THRE])]);
        send(UartKind::Ns16550 { reg_shift: 2, io_width: 4 }, &mut rec, b"e");
        assert_eq!(rec.ops.last(), Some(&Op::W32(0, b'e' as u32)));
        assert!(rec.ops.iter().all(|o| matches!(o, Op::R32(_) | Op::W32(..))), "{:?}", rec.ops);
    }

    /// A PL011 driver over `block`, a register block in ordinary memory, for `f`.
    fn on_pl011<T>(block: &mut [u32; 0x400], f: impl FnOnce(&mut Uart<Mmio>) -> T) -> T {
        let base = NonNull::new(block.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: the block is 4 KiB of this test's memory, used by nothing else meanwhile.
        let mut u: Uart<Mmio> = unsafe { Uart::pl011(base) };
        f(&mut u)
    }

    /// The PL011 through `arm-pl011-uart`, on a register block in ordinary memory: the byte lands
    /// in UARTDR once UARTFR says the FIFO has room.
    #[test]
    fn pl011_writes_the_data_register() {
        let mut block = [0u32; 0x400];
        on_pl011(&mut block, |u| u.put(b'Z'));
        assert_eq!(block[0], b'Z' as u32, "UARTDR");
    }

    /// A text goes out byte by byte as `put` sends it, each line feed after a carriage return,
    /// each byte after its own wait for the transmitter.
    #[test]
    fn text_is_written_with_crlf_line_ends() {
        let mut rec = Recorder::with(&[(5, &[THRE])]);
        Uart::with_regs(UartKind::Ns16550 { reg_shift: 0, io_width: 1 }, &mut rec).unwrap().write_text(b"a\nb\n");
        let mut want = Vec::new();
        for b in *b"a\r\nb\r\n" {
            want.extend([Op::R8(5), Op::W8(0, b)]);
        }
        assert_eq!(rec.ops, want);
        let mut rec = Recorder::with(&[(samsung::UFCON, &[0]), (samsung::UTRSTAT, &[0b110])]);
        Uart::with_regs(UartKind::Samsung { tx_full_bit: 24 }, &mut rec).unwrap().write_text(b"\n");
        let written: Vec<_> = rec.ops.iter().filter(|o| matches!(o, Op::W32(..))).copied().collect();
        assert_eq!(written, [Op::W32(samsung::UTXH, b'\r' as u32), Op::W32(samsung::UTXH, b'\n' as u32)]);
    }

    /// The PL011's text path: the last byte written is in UARTDR.
    #[test]
    fn pl011_writes_text() {
        let mut block = [0u32; 0x400];
        on_pl011(&mut block, |u| u.write_text(b"ok\n"));
        assert_eq!(block[0], b'\n' as u32, "UARTDR");
    }

    /// The probe reads the register the driver reads first, at the same width.
    #[test]
    fn the_status_register_is_the_first_one_each_driver_reads() {
        let kinds = [
            UartKind::Ns16550 { reg_shift: 2, io_width: 1 },
            UartKind::Ns16550 { reg_shift: 0, io_width: 1 },
            UartKind::Ns16550 { reg_shift: 2, io_width: 4 },
            UartKind::Samsung { tx_full_bit: 24 },
            UartKind::Stm32,
            UartKind::Imx,
        ];
        for kind in kinds {
            let mut rec = Recorder::with(&[(0x14, &[THRE]), (5, &[THRE]), (stm32::ISR, &[stm32::ISR_TXE])]);
            send(kind, &mut rec, b"s");
            let want = match status_register(kind).unwrap() {
                (off, 1) => Op::R8(off),
                (off, _) => Op::R32(off),
            };
            assert_eq!(rec.ops[0], want, "{kind:?}");
        }
        assert_eq!(status_register(UartKind::Pl011), Some((0x18, 4)));
        assert_eq!(status_register(UartKind::Unsupported), None);
    }

    #[test]
    fn kinds_without_a_driver_over_regs() {
        assert!(Uart::with_regs(UartKind::Unsupported, &mut Recorder::default()).is_none());
        assert!(Uart::with_regs(UartKind::Pl011, &mut Recorder::default()).is_none());
    }

    /// A UART whose status never changes: counts reads, records writes.
    struct Stuck {
        status: u32,
        reads: u64,
        writes: Vec<(usize, u32)>,
    }

    impl Regs for &mut Stuck {
        fn read8(&mut self, _: usize) -> u8 {
            self.reads += 1;
            self.status as u8
        }
        fn write8(&mut self, off: usize, v: u8) {
            self.writes.push((off, v as u32));
        }
        fn read32(&mut self, _: usize) -> u32 {
            self.reads += 1;
            self.status
        }
        fn write32(&mut self, off: usize, v: u32) {
            self.writes.push((off, v));
        }
    }

    /// A transmitter that never makes room (an unclocked UART reads 0; ordinary memory where the
    /// device tree says a UART is): every driver gives the byte up after the bounded wait, writes
    /// nothing, and says so; a text stops at its first byte.
    #[test]
    fn a_transmitter_that_never_makes_room_is_given_up() {
        let stuck = [
            (UartKind::Ns16550 { reg_shift: 2, io_width: 1 }, 0u32),
            (UartKind::Ns16550 { reg_shift: 2, io_width: 4 }, 0),
            (UartKind::Samsung { tx_full_bit: 24 }, 1 << 24 | 1), // FIFOs on (UFCON bit 0), full
            (UartKind::Stm32, 0),
            (UartKind::Imx, imx::UTS_TXFULL),
        ];
        for (kind, status) in stuck {
            let mut s = Stuck { status, reads: 0, writes: Vec::new() };
            {
                let mut u = Uart::with_regs(kind, &mut s).unwrap();
                assert!(!u.put(b'x'), "{kind:?}");
                assert!(!u.write_text(b"ab\n"), "{kind:?}");
            }
            assert!(s.writes.is_empty(), "{kind:?}: {:?}", s.writes);
            // Two bytes tried (the put and the text's first), each 1 + ROOM_WAIT_POLLS status reads
            // (and Samsung's UFCON read before each wait).
            let extra = if matches!(kind, UartKind::Samsung { .. }) { 2 } else { 0 };
            assert_eq!(s.reads, 2 * (1 + ROOM_WAIT_POLLS as u64) + extra, "{kind:?}");
        }
    }

    /// The PL011 with UARTFR.TXFF stuck set: the byte is given up and UARTDR not written.
    #[test]
    fn a_pl011_whose_fifo_stays_full_is_given_up() {
        let mut block = [0u32; 0x400];
        block[0x18 / 4] = 1 << 5; // UARTFR.TXFF
        assert!(!on_pl011(&mut block, |u| u.write_text(b"lost\n")));
        assert_eq!(block[0], 0, "UARTDR untouched");
    }

    /// Room that comes late, inside the bound, is waited for.
    #[test]
    fn room_that_comes_within_the_bound_is_waited_for() {
        let mut late = vec![0u32; 1000];
        late.push(THRE);
        let mut rec = Recorder::with(&[(0x14, &late)]);
        assert!(Uart::with_regs(UartKind::Ns16550 { reg_shift: 2, io_width: 1 }, &mut rec).unwrap().put(b'y'));
        assert_eq!(rec.ops.last(), Some(&Op::W8(0, b'y')));
    }
}
