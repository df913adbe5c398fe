//! QEMU's fw_cfg device as hypfw shows it to the payload (QEMU docs/specs/fw_cfg.rst, "Arm"
//! register locations; hw/nvram/fw_cfg.c for which accesses the device accepts).
//!
//! Why hypfw stands between them: fw_cfg's DMA interface copies data to and from whatever
//! physical address the payload writes into its DMA address register. The copy is done by QEMU
//! as a bus master, which stage 2 does not govern, so one request could read or overwrite
//! hypfw's region. The three registers share one 4 KiB page, so the DMA register cannot be left
//! out of stage 2 alone: the whole page is a stage-2 hole, and the runtime carries out the
//! payload's accesses to the two harmless registers itself:
//! - selector (offset 8, 16-bit big-endian writes): passed to the device, and remembered;
//! - data (offset 0, 1/2/4-byte reads): read from the device and returned, except that the
//!   DMA bit of the feature word (`FW_CFG_ID` bit 1) reads as clear, so a guest that checks it
//!   (Linux's qemu_fw_cfg, U-Boot, EDK2) uses the data register instead of DMA; writes to it are
//!   no-ops on the device since QEMU 2.4, and are dropped;
//! - DMA address (offset 16..24): never reaches the device. The payload gets the external abort
//!   of any stage-2 hole, and the runtime reports the refusal.
//!
//! Everything else in the page (other offsets or sizes, accesses without a syndrome) is treated
//! as an access into a hole, as QEMU itself rejects most of them.

/// Register offsets from the device's base (QEMU virt: `reg` = base, 0x18).
pub const DATA: u64 = 0x00;
pub const SELECTOR: u64 = 0x08;
pub const DMA_ADDRESS: u64 = 0x10;
pub const REGS_END: u64 = 0x18;

/// Selector keys (the item numbers).
pub const KEY_SIGNATURE: u16 = 0x0000;
pub const KEY_ID: u16 = 0x0001;
/// Selector bit 14: the "write channel" form of a key, which selects the same item.
const KEY_WRITE_CHANNEL: u16 = 0x4000;
/// `FW_CFG_ID` bits: 0 the traditional interface, 1 the DMA interface.
pub const ID_TRADITIONAL: u8 = 1 << 0;
pub const ID_DMA: u8 = 1 << 1;
/// What the signature item holds.
pub const SIGNATURE: [u8; 4] = *b"QEMU";

/// What the runtime does with one trapped access to the fw_cfg page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Read `size` bytes from the data register, pass them through [`State::data_read`], and
    /// load them into the register.
    ReadData { size: u32 },
    /// Write these two bytes (address order, i.e. the big-endian key) to the selector register,
    /// after [`State::select`].
    Select { bytes: [u8; 2] },
    /// A write to the data register: step over it (the device ignores it too).
    DropWrite,
    /// An access to the DMA address register: refused, the payload gets an external abort.
    Dma { write: bool },
    /// Not an access the device accepts: an external abort, as for any stage-2 hole.
    Abort,
}

/// Decide what to do with an access of `size` bytes at `offset` from the device's base (negative
/// offsets, i.e. below the base in the same page, come in as None).
pub fn decide(offset: Option<u64>, size: u32, write: bool, bytes: [u8; 4]) -> Decision {
    match (offset, size, write) {
        (Some(DATA), 1 | 2 | 4, false) => Decision::ReadData { size },
        (Some(DATA), _, true) => Decision::DropWrite,
        (Some(SELECTOR), 2, true) => Decision::Select { bytes: [bytes[0], bytes[1]] },
        (Some(o), _, _) if (DMA_ADDRESS..REGS_END).contains(&o) => Decision::Dma { write },
        _ => Decision::Abort,
    }
}

/// The device's position as far as the runtime needs it: the selected item and how far into it
/// the data register has read. Every access to the device goes through the runtime, so this is
/// exact once the runtime has selected an item itself ([`State::AFTER_RESET`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    pub key: u16,
    pub offset: u32,
}

impl State {
    /// After selecting `KEY_SIGNATURE`, as QEMU's reset does.
    pub const AFTER_RESET: State = State { key: KEY_SIGNATURE, offset: 0 };

    /// A selector write with `bytes` (address order: the key is big-endian).
    pub fn select(&mut self, bytes: [u8; 2]) {
        *self = State { key: u16::from_be_bytes(bytes), offset: 0 };
    }

    /// Bytes just read from the data register (address order): advance the offset, and clear the
    /// DMA bit when they include the first byte of `FW_CFG_ID` (a little-endian word).
    pub fn data_read(&mut self, bytes: &mut [u8]) {
        if self.key & !KEY_WRITE_CHANNEL == KEY_ID && self.offset == 0 && !bytes.is_empty() {
            bytes[0] &= !ID_DMA;
        }
        self.offset = self.offset.saturating_add(bytes.len() as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_what_is_refused() {
        let none = [0; 4];
        assert_eq!(decide(Some(0), 1, false, none), Decision::ReadData { size: 1 });
        assert_eq!(decide(Some(0), 4, false, none), Decision::ReadData { size: 4 });
        assert_eq!(decide(Some(0), 4, true, none), Decision::DropWrite);
        assert_eq!(decide(Some(8), 2, true, [0, 1, 0, 0]), Decision::Select { bytes: [0, 1] });
        assert_eq!(decide(Some(0x10), 4, true, none), Decision::Dma { write: true });
        assert_eq!(decide(Some(0x14), 4, true, none), Decision::Dma { write: true }, "the low half starts a transfer");
        assert_eq!(decide(Some(0x17), 1, false, none), Decision::Dma { write: false });
        // What QEMU rejects itself: data at an offset, selector reads or other widths, the rest
        // of the page, below the base.
        for (o, size, w) in [(1, 1, false), (4, 4, false), (8, 2, false), (8, 4, true), (8, 1, true), (0x18, 4, false)]
        {
            assert_eq!(decide(Some(o), size, w, none), Decision::Abort, "offset {o:#x} size {size} write {w}");
        }
        assert_eq!(decide(Some(0xFFC), 4, true, none), Decision::Abort);
        assert_eq!(decide(None, 4, true, none), Decision::Abort);
    }

    #[test]
    fn the_dma_bit_of_fw_cfg_id_reads_clear() {
        let id = [ID_TRADITIONAL | ID_DMA, 0, 0, 0];
        let mut s = State::AFTER_RESET;
        s.select(KEY_ID.to_be_bytes());
        let mut b = id;
        s.data_read(&mut b);
        assert_eq!(b, [ID_TRADITIONAL, 0, 0, 0], "one 32-bit read");
        assert_eq!(s.offset, 4);
        // Byte by byte (Linux's ioread8_rep): only the first byte carries the bit.
        s.select(KEY_ID.to_be_bytes());
        let mut first = [id[0]];
        s.data_read(&mut first);
        assert_eq!(first, [ID_TRADITIONAL]);
        let mut second = [0xFF];
        s.data_read(&mut second);
        assert_eq!(second, [0xFF], "later bytes pass unchanged");
        // The write-channel form of the key selects the same item.
        s.select((KEY_ID | KEY_WRITE_CHANNEL).to_be_bytes());
        let mut b = id;
        s.data_read(&mut b);
        assert_eq!(b[0], ID_TRADITIONAL);
        // The architecture-specific item 1 (0x8001) is another item: untouched.
        s.select(0x8001u16.to_be_bytes());
        let mut b = id;
        s.data_read(&mut b);
        assert_eq!(b, id);
    }

    #[test]
    fn other_items_pass_unchanged() {
        let mut s = State::AFTER_RESET;
        let mut b = SIGNATURE;
        s.data_read(&mut b);
        assert_eq!(b, SIGNATURE);
        // Reading on into FW_CFG_ID's position of another item changes nothing either.
        s.select(0x0019u16.to_be_bytes());
        let mut b = [0x03, 0, 0, 0];
        s.data_read(&mut b);
        assert_eq!(b, [0x03, 0, 0, 0]);
        assert_eq!(s, State { key: 0x19, offset: 4 });
    }
}
