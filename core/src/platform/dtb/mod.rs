//! The platform, as the device tree describes it: RAM banks, console UART, GIC, CPUs, PSCI.
//!
//! The header and the memory reservations are checked first; then one pass over the structure
//! block (`pass`) checks every token with bounds checks, so that a bad DTB gives a clear `fatal:`
//! line, and on the way remembers the few nodes the description needs, which
//! `read_description` then reads (see [`node`] for why not the `fdt` crate). [`validate`] is
//! the same pass, its findings unused. Register addresses are decoded here with the parent's
//! `#address-cells`/`#size-cells` as 64-bit values (LPAE platforms put RAM above 4 GiB) and
//! translated through every parent `ranges`. The reader this replaced (check, then walk, then
//! search) is kept for the host as `reference`, which every input is compared with.

use crate::platform::options::Options;
use crate::platform::uart::{self, Family};
use node::{Blocks, Node};

mod node;
mod pass;
#[cfg(any(test, feature = "std"))]
pub mod reference;

/// The flattened tree's magic, header size and structure-block tokens (Devicetree
/// Specification 5.2 and 5.4), shared by the reader, the rewrite and the host-side builder.
pub const FDT_MAGIC: u32 = 0xD00D_FEED;
pub const HEADER_LEN: usize = 40;
pub const FDT_BEGIN_NODE: u32 = 1;
pub const FDT_END_NODE: u32 = 2;
pub const FDT_PROP: u32 = 3;
pub const FDT_NOP: u32 = 4;
pub const FDT_END: u32 = 9;
const MAX_DEPTH: usize = 32;
/// Deepest node hypfw looks up (root = 1). Paths live on the stack of the boot phase (no heap, a
/// fixed-size boot stack), so they are kept short; real trees nest devices 3-5 deep.
const PATH_MAX: usize = 12;
/// Largest extent of the used blocks accepted (Linux's limit for a flattened tree is 2 MiB); free
/// space beyond them (`totalsize` may include megabytes) is not read.
pub const MAX_SIZE: usize = 2 << 20;

pub const MAX_RAM: usize = crate::mm::layout::MAX_RAM_BANKS;
/// `/memory` nodes read (their ranges merge into at most [`MAX_RAM`] banks).
pub const MAX_MEMORY_NODES: usize = 8;
/// Reserved ranges kept (more are reported as a problem by `inspect`, and ignored).
pub const MAX_RESERVED: usize = 12;
pub const MAX_CPUS: usize = crate::mm::layout::MAX_CPUS;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbError {
    BadMagic(u32),
    TooSmall(usize),
    /// The used blocks end beyond [`MAX_SIZE`].
    TooLarge(usize),
    /// A header field points outside the blob or is misaligned.
    BadHeader(&'static str),
    UnsupportedVersion(u32),
    /// The structure block is malformed at this offset.
    BadStructure {
        offset: usize,
        what: &'static str,
    },
    /// A `reg` could not be decoded or translated.
    BadReg(&'static str),
    Parse,
}

impl core::fmt::Display for DtbError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            DtbError::BadMagic(m) => write!(f, "bad magic {m:#010x} (expected {FDT_MAGIC:#010x})"),
            DtbError::TooSmall(n) => write!(f, "totalsize {n} is smaller than the {HEADER_LEN}-byte header"),
            DtbError::TooLarge(n) => write!(f, "its blocks end at {n:#x}, beyond the {MAX_SIZE:#x} accepted"),
            DtbError::BadHeader(w) => write!(f, "header field {w} points outside the blob or is misaligned"),
            DtbError::UnsupportedVersion(v) => write!(f, "version {v} (need 16 or 17)"),
            DtbError::BadStructure { offset, what } => {
                write!(f, "structure block corrupt at offset {offset:#x}: {what}")
            }
            DtbError::BadReg(w) => write!(f, "cannot decode reg of {w}"),
            DtbError::Parse => write!(f, "the structure block has no root node"),
        }
    }
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// How many bytes of the blob at a pointer the bootloader gave to read, from its 40-byte header
/// alone: the end of the last block hypfw reads (memory reservations, structure, strings), after
/// checking the magic. A `totalsize` larger than that is free space, which is never read (libfdt
/// users leave megabytes of it); a block that ends beyond `totalsize` is an error, and so are
/// blocks ending beyond [`MAX_SIZE`].
pub fn header_total_size(header: &[u8]) -> Result<usize, DtbError> {
    let magic = be32(header, 0).ok_or(DtbError::TooSmall(header.len()))?;
    if magic != FDT_MAGIC {
        return Err(DtbError::BadMagic(magic));
    }
    let f = |i: usize| be32(header, 4 * i).map(|v| v as usize).ok_or(DtbError::TooSmall(header.len()));
    let total = f(1)?;
    if total < HEADER_LEN {
        return Err(DtbError::TooSmall(total));
    }
    let (off_struct, off_strings, off_rsv, size_strings, size_struct) = (f(2)?, f(3)?, f(4)?, f(8)?, f(9)?);
    let end = |off: usize, len: usize| off.checked_add(len).ok_or(DtbError::BadHeader("a block's end overflows"));
    let used =
        end(off_struct, size_struct)?.max(end(off_strings, size_strings)?).max(end(off_rsv, 16)?).max(HEADER_LEN);
    if used > MAX_SIZE {
        return Err(DtbError::TooLarge(used));
    }
    if used > total {
        return Err(DtbError::BadHeader("totalsize (smaller than the blocks it holds)"));
    }
    Ok(used)
}

/// Make a blob as the bootloader left it readable by [`describe`], in place: drop free space
/// after the used blocks from `totalsize` and remove `FDT_NOP` tokens (libfdt leaves both).
/// Returns the blob's new length and how many NOPs went. `blob` holds at least the bytes
/// [`header_total_size`] gave.
pub fn tidy(blob: &mut [u8]) -> Result<(usize, usize), DtbError> {
    let used = header_total_size(blob)?;
    let blob = blob.get_mut(..used).ok_or(DtbError::BadHeader("totalsize (blob truncated)"))?;
    blob[4..8].copy_from_slice(&(used as u32).to_be_bytes());
    let (_, nops) = validate_counting(blob, true)?;
    // Most trees have none: then there is nothing to move.
    let nops = if nops > 0 { strip_nops(blob) } else { 0 };
    Ok((used, nops))
}

/// [`tidy`], then [`describe`] without validating a second time: the tidied tree was validated
/// (NOPs allowed), and removing NOPs keeps it valid. Returns the tidied length, the NOPs removed
/// and the description.
pub fn tidy_and_describe(blob: &mut [u8]) -> Result<(usize, usize, Description), DtbError> {
    let (len, nops) = tidy(blob)?;
    let d = describe_valid(&blob[..len])?;
    Ok((len, nops, d))
}

/// Remove every `FDT_NOP` token from a structure block in place, as libfdt leaves them where it
/// deleted something (QEMU's `-dtb` edits, U-Boot's fixups); `size_dt_struct` shrinks. Returns
/// how many were removed. The blob must have passed [`validate_allowing_nops`].
pub fn strip_nops(blob: &mut [u8]) -> usize {
    let h = |b: &[u8], i: usize| be32(b, 4 * i).unwrap_or(0) as usize;
    let (off_struct, size_struct) = (h(blob, 2), h(blob, 9));
    let st = &mut blob[off_struct..off_struct + size_struct];
    let (mut rd, mut wr, mut removed) = (0usize, 0usize, 0usize);
    while rd + 4 <= st.len() {
        let tok = be32(st, rd).unwrap_or(FDT_END);
        let len = match tok {
            FDT_BEGIN_NODE => {
                let n = st[rd + 4..].iter().position(|&b| b == 0).unwrap_or(0);
                4 + ((n + 1 + 3) & !3)
            }
            FDT_PROP => 12 + ((be32(st, rd + 4).unwrap_or(0) as usize + 3) & !3),
            FDT_NOP => {
                removed += 1;
                rd += 4;
                continue;
            }
            _ => 4,
        };
        st.copy_within(rd..rd + len, wr);
        rd += len;
        wr += len;
        if tok == FDT_END {
            break;
        }
    }
    st[wr..].fill(0);
    blob[36..40].copy_from_slice(&(wr as u32).to_be_bytes());
    removed
}

/// The header fields [`validate`] checks (offsets and sizes in bytes).
struct Header {
    total: usize,
    off_struct: usize,
    size_struct: usize,
    off_strings: usize,
    size_strings: usize,
    off_rsv: usize,
}

/// Check the whole blob: header, memory-reservation block, structure block token by token,
/// strings. Returns the total size.
pub fn validate(blob: &[u8]) -> Result<usize, DtbError> {
    validate_with(blob, false)
}

/// As [`validate`], but `FDT_NOP` tokens may stand anywhere (as libfdt leaves them); [`tidy`]
/// removes them before [`describe`] reads the tree.
pub fn validate_allowing_nops(blob: &[u8]) -> Result<usize, DtbError> {
    validate_with(blob, true)
}

fn validate_with(blob: &[u8], nops_anywhere: bool) -> Result<usize, DtbError> {
    validate_counting(blob, nops_anywhere).map(|(total, _)| total)
}

/// As [`validate_with`], also returning how many FDT_NOP tokens the structure block holds.
fn validate_counting(blob: &[u8], nops_anywhere: bool) -> Result<(usize, usize), DtbError> {
    let (h, b) = blocks(blob, &[])?;
    let nops = pass::scan(b, nops_anywhere, &mut Facts::default())?;
    Ok((h.total, nops))
}

/// The header and the memory reservations checked, the structure and strings blocks, with the
/// structure block's tokens read from `words` when given (non-empty): the same bytes as
/// `blob[struct_block(blob)]`, seen as 32-bit words (see [`node::word_at`]).
fn blocks<'a>(blob: &'a [u8], words: &'a [u32]) -> Result<(Header, Blocks<'a>), DtbError> {
    let h = check_header(blob)?;
    check_reservations(blob, &h)?;
    let st = &blob[h.off_struct..h.off_struct + h.size_struct];
    let strings = &blob[h.off_strings..h.off_strings + h.size_strings];
    Ok((h, Blocks { st, words: covering(st, words), strings }))
}

/// The part of `words` that is the structure block `s`, if it covers all of it (so `s` is whole
/// words), else no view (bytes are read).
fn covering<'a>(s: &[u8], words: &'a [u32]) -> &'a [u32] {
    match words.get(..s.len() / 4) {
        Some(w) if s.len().is_multiple_of(4) => w,
        _ => &[],
    }
}

/// Where the structure block lies in a blob whose header [`header_total_size`] accepted: the
/// caller may make a word view of those bytes for [`check_and_describe`].
pub fn struct_block(blob: &[u8]) -> Result<core::ops::Range<usize>, DtbError> {
    let h = check_header(blob)?;
    Ok(h.off_struct..h.off_struct + h.size_struct)
}

/// What [`check_and_describe`] found.
#[allow(clippy::large_enum_variant)] // no heap to box into; returned once per boot
pub enum Checked {
    /// The tree is valid and needs no change: its description.
    Ready(Description),
    /// The tree is valid but holds FDT_NOP tokens: the caller tidies it in place
    /// ([`tidy_and_describe`]).
    NeedsTidy,
}

/// Make the header's `totalsize` the `used` bytes [`header_total_size`] gave (dropping free space
/// after the blocks, as [`tidy`] does) without touching anything else: `header` is the blob's
/// first [`HEADER_LEN`] bytes or more.
pub fn shrink_total_size(header: &mut [u8], used: usize) {
    if let Some(t) = header.get_mut(4..8) {
        t.copy_from_slice(&(used as u32).to_be_bytes());
    }
}

/// The boot path's read of the tree the bootloader gave: check (NOPs allowed) and describe in
/// one pass over the structure block (see `pass`), with its tokens read through `words` (see
/// [`node::word_at`]) when the caller has a word view of it (empty otherwise). A tree that must
/// be changed first is only reported ([`Checked::NeedsTidy`]), so that the common case needs no
/// mutable access.
pub fn check_and_describe(blob: &[u8], words: &[u32]) -> Result<Checked, DtbError> {
    let used = header_total_size(blob)?;
    let blob = blob.get(..used).ok_or(DtbError::BadHeader("totalsize (blob truncated)"))?;
    let (_, b) = blocks(blob, words)?;
    let mut facts = Facts::default();
    if pass::scan(b, true, &mut facts)? > 0 {
        return Ok(Checked::NeedsTidy);
    }
    read_description(b, blob, &facts).map(Checked::Ready)
}

/// The header: size, version, and every block inside the blob.
fn check_header(blob: &[u8]) -> Result<Header, DtbError> {
    let total = header_total_size(blob)?;
    if blob.len() < total {
        return Err(DtbError::BadHeader("totalsize (blob truncated)"));
    }
    let f = |i: usize| be32(blob, i * 4).unwrap() as usize;
    let h = Header { total, off_struct: f(2), off_strings: f(3), off_rsv: f(4), size_strings: f(8), size_struct: f(9) };
    let version = f(5) as u32;
    if !(16..=17).contains(&version) {
        return Err(DtbError::UnsupportedVersion(version));
    }
    let within = |off: usize, len: usize| off.checked_add(len).is_some_and(|e| e <= total);
    if !h.off_struct.is_multiple_of(4) || !within(h.off_struct, h.size_struct) {
        return Err(DtbError::BadHeader("off_dt_struct/size_dt_struct"));
    }
    if !within(h.off_strings, h.size_strings) {
        return Err(DtbError::BadHeader("off_dt_strings/size_dt_strings"));
    }
    if !h.off_rsv.is_multiple_of(8) || !within(h.off_rsv, 16) {
        return Err(DtbError::BadHeader("off_mem_rsvmap"));
    }
    Ok(h)
}

/// The memory reservation block: 16-byte entries up to an all-zero one, inside the blob.
fn check_reservations(blob: &[u8], h: &Header) -> Result<(), DtbError> {
    let mut r = h.off_rsv;
    loop {
        if r.checked_add(16).is_none_or(|e| e > h.total) {
            return Err(DtbError::BadHeader("off_mem_rsvmap (no terminating entry)"));
        }
        if blob[r..r + 16].iter().all(|&b| b == 0) {
            return Ok(());
        }
        r += 16;
    }
}

/// Names are ASCII in every real tree: answer that with a byte loop, and only hand the rare other
/// name to the full UTF-8 check (a call per name was a tenth of the boot's instructions).
fn is_utf8(b: &[u8]) -> bool {
    b.is_ascii() || core::str::from_utf8(b).is_ok()
}

/// How hypfw drives a console UART.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartKind {
    /// ARM PrimeCell PL011 (QEMU virt, vexpress).
    Pl011,
    /// 8250/16550 with registers `1 << reg_shift` bytes apart, accessed `io_width` bytes at a
    /// time (TI OMAP, NVIDIA Tegra, Synopsys DesignWare on Allwinner).
    Ns16550 { reg_shift: u8, io_width: u8 },
    /// Samsung S3C/S5P/Exynos (Arndale); `tx_full_bit` is UFSTAT's transmit-FIFO-full bit.
    Samsung { tx_full_bit: u8 },
    /// STM32 USART, H7 layout (STM32MP1).
    Stm32,
    /// NXP i.MX (i.MX6UL, i.MX7).
    Imx,
    /// A console hypfw has no driver for (`/chosen/stdout-path` names a UART of another kind):
    /// hypfw goes on without output.
    Unsupported,
}

/// The console UART: how to drive it, where it is (physical, after every `ranges`), and which
/// compatible string identified it (an index into `platform::uart`'s table, plain data so
/// that the boot phase can hand it to the runtime; [`NO_COMPATIBLE`] for an unsupported one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Console {
    pub kind: UartKind,
    pub base: u64,
    pub size: u64,
    pub compatible: u8,
}

pub const NO_COMPATIBLE: u8 = u8::MAX;

impl Console {
    /// The compatible string that identified this UART, if hypfw knows it.
    pub fn compatible(&self) -> Option<&'static str> {
        crate::platform::uart::name(self.compatible as usize)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Gic {
    pub dist: (u64, u64),
    pub cpu: (u64, u64),
    /// Virtual interface control (GICH) and virtual CPU interface (GICV), if present.
    pub hyp: Option<(u64, u64)>,
    pub vcpu: Option<(u64, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    Smc,
    Hvc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Cpu {
    pub mpidr: u32,
    /// enable-method is "psci".
    pub psci: bool,
}

/// Registers with which a SoC starts a CPU at an address chosen by whoever writes them, outside
/// PSCI: a CPU started so would run without hypfw's stage 2 (on QEMU's models, in HYP or even
/// Secure state), so the payload's writes there are refused. Where they share a page with
/// registers the payload needs, the rest of the page is carried out for it
/// (`services::release`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuRelease {
    pub kind: ReleaseKind,
    /// The guarded registers (IPA = PA; every such block lies below 4 GiB, and 32-bit fields
    /// keep the platform description, which the boot copies by value, small).
    pub base: u32,
    pub size: u32,
    /// A second range of them in the same page, where the SoC has one (size 0: none).
    pub base2: u32,
    pub size2: u32,
}

impl CpuRelease {
    pub fn range(&self) -> crate::mm::layout::MemRange {
        crate::mm::layout::MemRange { base: self.base as u64, size: self.size as u64 }
    }
    pub fn range2(&self) -> crate::mm::layout::MemRange {
        crate::mm::layout::MemRange { base: self.base2 as u64, size: self.size2 as u64 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseKind {
    /// Versatile Express's SYS_FLAGS and SYS_NVFLAGS (set and clear, offsets 0x30..0x40 of the
    /// `arm,vexpress-sysreg` block): the board's boot monitor, U-Boot's pen and QEMU's secondary
    /// loop all wait for a CPU's start address there.
    VexpressFlags,
    /// Allwinner's CPUCFG block (A20, A31, A23/A33, H3/H2+, R40): a CPU's reset control and the
    /// address it starts at (offset 0x1A4), in Secure state.
    AllwinnerCpucfg,
    /// TI OMAP5 and DRA7/AM57xx (BeagleBoard-X15): AUX_CORE_BOOT_0/1 of the MPU wakeup generator
    /// (0x4828_1800), whose start flag and address the ROM code waits for on CPU1.
    TiAuxCoreBoot,
    /// Aspeed AST2600: the SMP mailbox in the SCU (`aspeed,ast2600-smpmem`, 0x1E6E_2180): a
    /// start address and a "go" signature the second core polls for.
    AspeedSmpMailbox,
    /// NXP i.MX7D: the System Reset Controller's A7RCR1 (core 1's enable, 0x3039_0008) and
    /// GPR1-GPR4 (each core's start address and argument, 0x3039_0074..0x3039_0084), which the
    /// boot ROM reads when it releases core 1, in Secure state.
    ImxSrc,
}

impl ReleaseKind {
    pub fn name(self) -> &'static str {
        match self {
            ReleaseKind::VexpressFlags => "Versatile Express SYS_FLAGS",
            ReleaseKind::AllwinnerCpucfg => "Allwinner CPUCFG",
            ReleaseKind::TiAuxCoreBoot => "TI AUX_CORE_BOOT",
            ReleaseKind::AspeedSmpMailbox => "Aspeed SMP mailbox",
            ReleaseKind::ImxSrc => "i.MX7 SRC core release",
        }
    }
}

/// The CPU release blocks hypfw knows, by a SoC's (or board's) string in the root's
/// `compatible`. The blocks sit at fixed addresses on each, and most trees leave them out (their
/// kernels start CPUs by PSCI); looked up by the root alone, they cost no search of the tree.
/// - Versatile Express with a Cortex-A15 or A7 tile (CoreTile TC1 and TC2, and QEMU's
///   vexpress-a15): the RS1 memory map, whose motherboard system registers are at 0x1C01_0000;
///   SYS_FLAGS and SYS_NVFLAGS, set and clear, at 0x30..0x40.
/// - Allwinner: CPUCFG at 0x01C2_5C00 (A20, R40) or 0x01F0_1C00 (A31/A31s, A23/A33, H3/H2+),
///   to the end of its page.
/// - TI OMAP5, DRA7/AM57xx: AUX_CORE_BOOT_0 and _1 at 0x800 and 0x804 of the wakeup generator
///   at 0x4828_1000 (its interrupt masks, in the same page, are carried out).
/// - Aspeed AST2600: the SMP mailbox, 0x40 bytes at 0x180 of the SCU at 0x1E6E_2000 (the SCU's
///   clocks, resets and pin control, in the same page, are carried out).
/// - NXP i.MX7D: SRC_A7RCR1 and SRC_GPR1-4 of the SRC at 0x3039_0000 (its peripheral and PHY
///   resets, in the same page, are carried out).
pub(crate) const RELEASE_BLOCKS: [CpuRelease; 6] = [
    block(ReleaseKind::VexpressFlags, 0x1C01_0030, 0x10),
    block(ReleaseKind::AllwinnerCpucfg, 0x01C2_5C00, 0x400),
    block(ReleaseKind::AllwinnerCpucfg, 0x01F0_1C00, 0x400),
    block(ReleaseKind::TiAuxCoreBoot, 0x4828_1800, 8),
    block(ReleaseKind::AspeedSmpMailbox, 0x1E6E_2180, 0x40),
    CpuRelease { kind: ReleaseKind::ImxSrc, base: 0x3039_0008, size: 4, base2: 0x3039_0074, size2: 0x10 },
];

const fn block(kind: ReleaseKind, base: u32, size: u32) -> CpuRelease {
    CpuRelease { kind, base, size, base2: 0, size2: 0 }
}

/// The strings after "arm,vexpress,", "allwinner,", "ti,", "aspeed," and "fsl,", each with its
/// block in
/// [`RELEASE_BLOCKS`], packed (no pointer per string for the boot to relocate:
/// `platform::packed`).
const RELEASE_SOCS: [(&str, u8); N_RELEASE_SOCS] = [
    ("v2p-ca15,tc1", 0),
    ("v2p-ca15_a7", 0),
    ("sun7i-a20", 1),
    ("sun8i-r40", 1),
    ("sun6i-a31", 2),
    ("sun6i-a31s", 2),
    ("sun8i-a23", 2),
    ("sun8i-a33", 2),
    ("sun8i-h3", 2),
    ("sun8i-h2-plus", 2),
    ("dra7", 3),
    ("omap5", 3),
    ("ast2600", 4),
    ("imx7d", 5),
];
const N_RELEASE_SOCS: usize = 14;
/// Which of [`RELEASE_SOCS`] follow each prefix.
const VEXPRESS_TILES: core::ops::Range<usize> = 0..2;
const ALLWINNER_SOCS: core::ops::Range<usize> = 2..10;
const TI_SOCS: core::ops::Range<usize> = 10..12;
const ASPEED_SOCS: core::ops::Range<usize> = 12..13;
const FSL_SOCS: core::ops::Range<usize> = 13..14;
const RELEASE_SOC_TEXT: [&str; N_RELEASE_SOCS] = crate::platform::packed::keys(&RELEASE_SOCS);
static RELEASE_SOC_NAMES: crate::platform::packed::Packed<
    N_RELEASE_SOCS,
    { crate::platform::packed::total_len(&RELEASE_SOC_TEXT) },
> = crate::platform::packed::Packed::new(RELEASE_SOC_TEXT);
static RELEASE_SOC_BLOCK: [u8; N_RELEASE_SOCS] = crate::platform::packed::values(&RELEASE_SOCS);

/// The CPU release block of the SoC a root `compatible` list names, if hypfw knows it.
fn cpu_release_of(root_compatible: &[u8]) -> Option<CpuRelease> {
    // The prefixes start with "a", "f" or "t": most roots are ruled out by their first byte.
    root_compatible.split(|&c| c == 0).filter(|s| matches!(s.first(), Some(b'a' | b'f' | b't'))).find_map(|s| {
        let (rest, mut range) = if let Some(tile) = s.strip_prefix(b"arm,vexpress,") {
            (tile, VEXPRESS_TILES)
        } else if let Some(soc) = s.strip_prefix(b"ti,") {
            (soc, TI_SOCS)
        } else if let Some(soc) = s.strip_prefix(b"aspeed,") {
            (soc, ASPEED_SOCS)
        } else if let Some(soc) = s.strip_prefix(b"fsl,") {
            (soc, FSL_SOCS)
        } else {
            (s.strip_prefix(b"allwinner,")?, ALLWINNER_SOCS)
        };
        let i = range.find(|&i| RELEASE_SOC_NAMES.get(i) == Some(rest))?;
        RELEASE_BLOCKS.get(*RELEASE_SOC_BLOCK.get(i)? as usize).copied()
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Platform {
    pub ram: [crate::mm::layout::MemRange; MAX_RAM],
    pub ram_banks: usize,
    /// RAM ranges of the tree that do not fit in `ram` once adjacent and overlapping ones are
    /// merged (more than [`MAX_RAM`] separate banks, or memory nodes past
    /// [`MAX_MEMORY_NODES`]): not used. The boot phase stops on them, as the payload's
    /// /memory would still list them while stage 2 maps them as device memory.
    pub ram_ignored: usize,
    pub console: Option<Console>,
    pub gic: Option<Gic>,
    pub cpus: [Cpu; MAX_CPUS],
    pub ncpus: usize,
    /// CPUs listed beyond MAX_CPUS (reported, not used).
    pub cpus_ignored: usize,
    /// Memory the platform keeps for itself: `/memreserve/` entries and the static regions of
    /// `/reserved-memory` (hypfw places nothing there; the payload's tree keeps them).
    pub reserved: [crate::mm::layout::MemRange; MAX_RESERVED],
    pub nreserved: usize,
    /// Reservations past [`MAX_RESERVED`]: not known, so the boot phase stops rather than risk
    /// placing something over one.
    pub reserved_ignored: usize,
    pub psci: Option<PsciMethod>,
    pub timer_freq: Option<u32>,
    /// QEMU's fw_cfg device (`qemu,fw-cfg-mmio`: data, selector and DMA address registers in one
    /// page), which QEMU virt has and boards do not.
    pub fw_cfg: Option<(u64, u64)>,
    /// The SoC's own registers for starting a CPU at an address of the writer's choice, where
    /// hypfw knows them ([`CpuRelease`]).
    pub cpu_release: Option<CpuRelease>,
    /// True when this came from the built-in QEMU virt description, not a DTB.
    pub fallback: bool,
}

impl Platform {
    pub fn reserved(&self) -> &[crate::mm::layout::MemRange] {
        &self.reserved[..self.nreserved]
    }
    #[inline] // the runtime uses it too: inlined, it never calls into the boot-only text
    pub fn ram(&self) -> &[crate::mm::layout::MemRange] {
        &self.ram[..self.ram_banks]
    }
    pub fn cpus(&self) -> &[Cpu] {
        &self.cpus[..self.ncpus]
    }

    /// QEMU `virt` as hypfw assumes it when no device tree was passed (an ELF boot without one):
    /// RAM at 0x4000_0000 of the default 128 MiB, PL011 at 0x0900_0000, GICv2, one CPU, PSCI
    /// by SMC.
    pub fn qemu_virt_fallback() -> Self {
        let mut cpus = [Cpu::default(); MAX_CPUS];
        cpus[0] = Cpu { mpidr: 0, psci: true };
        let mut ram = [crate::mm::layout::MemRange::default(); MAX_RAM];
        ram[0] = crate::mm::layout::MemRange { base: 0x4000_0000, size: 128 << 20 };
        Platform {
            ram,
            ram_banks: 1,
            ram_ignored: 0,
            reserved_ignored: 0,
            console: Some(Console { kind: UartKind::Pl011, base: 0x0900_0000, size: 0x1000, compatible: 0 }),
            gic: Some(Gic {
                dist: (0x0800_0000, 0x1_0000),
                cpu: (0x0801_0000, 0x1_0000),
                hyp: Some((0x0803_0000, 0x1_0000)),
                vcpu: Some((0x0804_0000, 0x1_0000)),
            }),
            cpus,
            ncpus: 1,
            cpus_ignored: 0,
            reserved: [crate::mm::layout::MemRange::default(); MAX_RESERVED],
            nreserved: 0,
            psci: Some(PsciMethod::Smc),
            timer_freq: None,
            fw_cfg: None,
            cpu_release: None,
            fallback: true,
        }
    }
}

/// Cells of `#address-cells`/`#size-cells` declared by `node` for its children (spec defaults
/// 2 and 1).
/// A node's `#address-cells` and `#size-cells` (2 and 1 when absent). Counts above
/// [`MAX_CELLS`] are read as that many: no reg or ranges entry of such cells is readable
/// (`read_cells` takes at most 2), so the error stays the same, and the entry sizes computed from
/// them (`4 * (ac + pa + sc)`) cannot wrap a 32-bit `usize`.
fn child_cells(node: Node) -> (usize, usize) {
    cells(node.get("#address-cells"), node.get("#size-cells"))
}

/// The cell counts `#address-cells` and `#size-cells` values give (2 and 1 when absent).
fn cells(ac: Option<&[u8]>, sc: Option<&[u8]>) -> (usize, usize) {
    let get = |v: Option<&[u8]>, d| v.and_then(|v| be32(v, 0)).map_or(d, |v| (v as usize).min(MAX_CELLS));
    (get(ac, 2), get(sc, 1))
}

/// More cells than any tree uses (4 on 128-bit buses such as PCI's 3-cell addresses).
const MAX_CELLS: usize = 16;

fn read_cells(b: &[u8], off: usize, cells: usize) -> Option<u64> {
    match cells {
        0 => Some(0),
        1 => be32(b, off).map(u64::from),
        2 => Some((be32(b, off)? as u64) << 32 | be32(b, off + 4)? as u64),
        _ => None,
    }
}

/// The path from the root to a node, as the offsets in the structure block where each node's
/// properties start (root first): what the pass keeps of a node a question found.
#[derive(Clone, Copy, Debug)]
struct Path {
    at: [u32; PATH_MAX],
    len: usize,
}

impl Path {
    /// The `i`th node of the path.
    fn node<'a>(&self, b: Blocks<'a>, i: usize) -> Result<Node<'a>, DtbError> {
        Ok(Node::with_props_at(b, self.at[i] as usize))
    }
}

/// What the pass over the structure block remembers for [`read_description`]: nodes as the
/// offsets where their properties start.
#[derive(Default)]
struct Facts {
    root: u32,
    /// For each of [`WANTED`], the path of the first node (in document order) that answers it.
    matches: [Option<Path>; WANTED.len()],
    /// Enabled `device_type = "memory"` nodes directly under the root, the first `nmemory`.
    memory: [u32; MAX_MEMORY_NODES],
    nmemory: usize,
    /// The first of each directly under the root.
    cpus: Option<u32>,
    chosen: Option<u32>,
    reserved_memory: Option<u32>,
    aliases: Option<u32>,
    /// The node `/chosen/stdout-path` (an alias resolved) or else the `serial0` alias names.
    console: Option<Path>,
    /// The children of `cpus`, the first `ncpu_children` (more than [`CPU_CHILDREN`]: too many
    /// to keep, `read_cpus` walks them).
    cpu_children: [u32; CPU_CHILDREN],
    ncpu_children: usize,
}

/// Children of `/cpus` remembered (a CPU node each, and `cpu-map` or `idle-states`).
const CPU_CHILDREN: usize = 2 * MAX_CPUS;

/// Translate a child bus address through the `ranges` of `bus` (whose parent is `parent`).
fn translate_one(bus: Node, parent: Node, addr: u64) -> Result<u64, DtbError> {
    let Some(ranges) = bus.get("ranges") else {
        return Err(DtbError::BadReg("a bus without ranges"));
    };
    if ranges.is_empty() {
        return Ok(addr);
    }
    let (ca, cs) = child_cells(bus);
    let (pa, _) = child_cells(parent);
    let entry = 4 * (ca + pa + cs);
    if entry == 0 || ranges.len() % entry != 0 {
        return Err(DtbError::BadReg("ranges"));
    }
    for e in ranges.chunks_exact(entry) {
        let child = read_cells(e, 0, ca).ok_or(DtbError::BadReg("ranges"))?;
        let paddr = read_cells(e, 4 * ca, pa).ok_or(DtbError::BadReg("ranges"))?;
        let size = read_cells(e, 4 * (ca + pa), cs).ok_or(DtbError::BadReg("ranges"))?;
        if addr >= child && addr - child < size {
            return Ok(paddr + (addr - child));
        }
    }
    Err(DtbError::BadReg("an address outside its bus ranges"))
}

/// The `reg` of the node at the end of `path`, with its parent's cells (read once for all its
/// entries). The root has none (no parent's cells say how to read one).
struct Regs<'a, 'p> {
    b: Blocks<'a>,
    path: &'p Path,
    reg: Option<&'a [u8]>,
    ac: usize,
    sc: usize,
    /// `reg` is whole entries of `ac + sc` cells.
    whole: bool,
}

fn regs<'a, 'p>(t: Tree<'a>, path: &'p Path) -> Result<Regs<'a, 'p>, DtbError> {
    let b = t.b;
    let mut r = Regs { b, path, reg: None, ac: 0, sc: 0, whole: false };
    if let Some(parent) = path.len.checked_sub(2) {
        let node = path.node(b, path.len - 1)?;
        (r.ac, r.sc) = if parent == 0 { t.root_cells } else { child_cells(path.node(b, parent)?) };
        r.reg = node.get("reg");
        let stride = 4 * (r.ac + r.sc);
        r.whole = r.reg.is_some_and(|reg| stride != 0 && reg.len() % stride == 0);
    }
    Ok(r)
}

/// A valid tree as [`read_description`] reads it: its blocks, and the root's cells (read once:
/// most nodes read are the root's children).
#[derive(Clone, Copy)]
struct Tree<'a> {
    b: Blocks<'a>,
    root_cells: (usize, usize),
}

impl Regs<'_, '_> {
    /// The `index`th (address, size), as a CPU physical address.
    fn get(&self, index: usize) -> Result<Option<(u64, u64)>, DtbError> {
        let (b, path, ac, sc) = (self.b, self.path, self.ac, self.sc);
        let Some(reg) = self.reg else { return Ok(None) };
        let stride = 4 * (ac + sc);
        if !self.whole {
            return Err(DtbError::BadReg("a node reg (cells)"));
        }
        let Some(e) = index.checked_mul(stride).and_then(|at| reg.get(at..at + stride)) else { return Ok(None) };
        let mut addr = read_cells(e, 0, ac).ok_or(DtbError::BadReg("a node reg (cells)"))?;
        let size = read_cells(e, 4 * ac, sc).ok_or(DtbError::BadReg("a node reg (cells)"))?;
        // Walk the buses from the node's parent up to the root's child.
        for i in (1..path.len - 1).rev() {
            addr = translate_one(path.node(b, i)?, path.node(b, i - 1)?, addr)?;
        }
        Ok(Some((addr, size)))
    }
}

/// A node is in use unless its `status` says otherwise ("okay"/"ok" or absent). Secure-only nodes
/// (QEMU's secure RAM and UART with secure=on) are "disabled" for the Non-secure world hypfw
/// runs in, and so are skipped.
fn is_enabled(status: Option<&[u8]>) -> bool {
    status.is_none_or(|s| s.starts_with(b"okay") || s.starts_with(b"ok\0"))
}

/// A question the description asks of every node below the root: compatible with any of
/// `compatible`, optionally enabled.
struct Wanted {
    compatible: &'static [&'static str],
    enabled: bool,
}

/// The questions, in the order of [`Facts::matches`]: the first enabled UART hypfw drives, GICv2,
/// PSCI, the architected timer, QEMU's fw_cfg.
const WANTED: [Wanted; 5] = [
    Wanted { compatible: &uart::ALL, enabled: true },
    Wanted { compatible: GICV2, enabled: true },
    Wanted { compatible: &["arm,psci", "arm,psci-0.2", "arm,psci-1.0"], enabled: false },
    Wanted { compatible: &["arm,armv7-timer"], enabled: false },
    Wanted { compatible: &[FW_CFG_COMPATIBLE], enabled: true },
];

/// QEMU's firmware configuration device on MMIO (QEMU docs/specs/fw_cfg.rst).
pub const FW_CFG_COMPATIBLE: &str = "qemu,fw-cfg-mmio";

const GICV2: &[&str] = &["arm,cortex-a15-gic", "arm,cortex-a7-gic", "arm,gic-400", "arm,cortex-a9-gic"];

/// The console a UART node describes: a kind hypfw drives, or `Unsupported` for any other node
/// with a `reg` (stdout-path may name one). `reg-shift` and `reg-io-width` override what the
/// compatible implies.
fn console_from(t: Tree, path: &Path) -> Result<Option<Console>, DtbError> {
    let node = path.node(t.b, path.len - 1)?;
    let [compatible, shift, width] = node.get_last(["compatible", "reg-shift", "reg-io-width"]);
    let (kind, index) = match compatible.and_then(uart::identify) {
        Some((i, Family::Pl011)) => (UartKind::Pl011, i as u8),
        Some((i, Family::Ns16550 { shift: s, width: w })) => {
            let get = |v: Option<&[u8]>, d: u8| v.and_then(|v| be32(v, 0)).map_or(d, |x| x.min(4) as u8);
            let reg_shift = get(shift, s).min(3);
            let io_width = if get(width, w) == 4 { 4 } else { 1 };
            (UartKind::Ns16550 { reg_shift, io_width }, i as u8)
        }
        Some((i, Family::Samsung { tx_full_bit })) => (UartKind::Samsung { tx_full_bit }, i as u8),
        Some((i, Family::Stm32)) => (UartKind::Stm32, i as u8),
        Some((i, Family::Imx)) => (UartKind::Imx, i as u8),
        None => (UartKind::Unsupported, NO_COMPATIBLE),
    };
    Ok(regs(t, path)?.get(0)?.map(|(base, size)| Console { kind, base, size, compatible: index }))
}

/// The path an alias names.
fn alias<'a>(aliases: Option<Node<'a>>, name: &str) -> Option<&'a str> {
    aliases?.get(name).and_then(|a| core::str::from_utf8(a).ok()).map(|v| v.trim_end_matches('\0'))
}

/// The `stdout-path` of /chosen (or the `linux,stdout-path` spelling), alias resolved and any
/// ":options" suffix dropped.
fn stdout_path<'a>(chosen: Option<Node<'a>>, aliases: Option<Node<'a>>) -> Option<&'a str> {
    let chosen = chosen?;
    let p = chosen.get("stdout-path").or_else(|| chosen.get("linux,stdout-path"))?;
    let s = core::str::from_utf8(p).ok()?.trim_end_matches('\0');
    let s = s.split(':').next()?;
    if s.starts_with('/') {
        return Some(s);
    }
    alias(aliases, s)
}

/// What a device tree tells hypfw: the platform, and the options the user gave hypfw in
/// `/chosen/bootargs` (kept apart: a policy such as `hypfw.handover` is not a fact of the board).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Description {
    pub platform: Platform,
    pub options: Options,
    /// The initrd the bootloader named in /chosen (`linux,initrd-start`, `linux,initrd-end`):
    /// memory in use, which the payload gets when hypfw's pack has no initrd of its own. (Beside
    /// the platform, not in it: the platform is copied to the runtime, which does not need it.)
    pub initrd: Option<crate::mm::layout::MemRange>,
}

/// Parse a blob (validated first) into a [`Platform`].
pub fn parse(blob: &[u8]) -> Result<Platform, DtbError> {
    describe(blob).map(|d| d.platform)
}

/// Parse a blob (validated first) into the platform and hypfw's options.
pub fn describe(blob: &[u8]) -> Result<Description, DtbError> {
    describe_with(blob, false)
}

/// [`describe`] of a blob that passed [`validate`] (or [`tidy`]).
fn describe_valid(blob: &[u8]) -> Result<Description, DtbError> {
    describe_with(blob, true)
}

/// Check and describe in the one pass, bytes read (`nops_anywhere` as in [`validate_counting`]).
fn describe_with(blob: &[u8], nops_anywhere: bool) -> Result<Description, DtbError> {
    let (_, b) = blocks(blob, &[])?;
    let mut facts = Facts::default();
    pass::scan(b, nops_anywhere, &mut facts)?;
    read_description(b, blob, &facts)
}

/// The description, from what the pass remembered (the tree is valid): the few nodes it found
/// are read again for their `reg`, the `ranges` above them and their other properties.
fn read_description(b: Blocks, blob: &[u8], facts: &Facts) -> Result<Description, DtbError> {
    let node = |at: Option<u32>| at.map(|a| Node::with_props_at(b, a as usize));
    // The root's cells and its compatible (the SoC, for [`cpu_release_of`]) in one look.
    let [ac, sc, root_compatible] =
        Node::with_props_at(b, facts.root as usize).get_last(["#address-cells", "#size-cells", "compatible"]);
    let t = Tree { b, root_cells: cells(ac, sc) };
    let [uart, gic, psci, timer, fw_cfg] = &facts.matches;
    // Every field is read below; the arrays' slots beyond their counts stay zero.
    let mut p = Platform {
        ram: [crate::mm::layout::MemRange::default(); MAX_RAM],
        ram_banks: 0,
        ram_ignored: 0,
        reserved_ignored: 0,
        console: None,
        gic: None,
        cpus: [Cpu::default(); MAX_CPUS],
        ncpus: 0,
        cpus_ignored: 0,
        reserved: [crate::mm::layout::MemRange::default(); MAX_RESERVED],
        nreserved: 0,
        psci: None,
        timer_freq: None,
        fw_cfg: None,
        cpu_release: None,
        fallback: false,
    };
    read_ram(&mut p, t, facts)?;
    p.console = read_console(t, facts.console.as_ref(), uart.as_ref())?;
    p.gic = match gic {
        Some(path) => {
            let r = regs(t, path)?;
            let r = |i| r.get(i);
            match (r(0)?, r(1)?) {
                (Some(dist), Some(cpu)) => Some(Gic { dist, cpu, hyp: r(2)?, vcpu: r(3)? }),
                _ => None,
            }
        }
        None => None,
    };
    read_cpus(&mut p, node(facts.cpus), facts);
    read_reserved(&mut p, blob, t, facts)?;
    let last = |path: &Path| path.node(b, path.len - 1).ok();
    p.psci = psci.as_ref().and_then(last).and_then(|n| match n.get("method")? {
        b"smc\0" => Some(PsciMethod::Smc),
        b"hvc\0" => Some(PsciMethod::Hvc),
        _ => None,
    });
    p.fw_cfg = match fw_cfg {
        Some(path) => regs(t, path)?.get(0)?,
        None => None,
    };
    p.cpu_release = root_compatible.and_then(cpu_release_of);
    p.timer_freq = timer.as_ref().and_then(last).and_then(|n| n.get("clock-frequency").and_then(|f| be32(f, 0)));
    // /chosen in one look: the command line and the bootloader's initrd.
    let [bootargs, initrd_start, initrd_end] =
        node(facts.chosen).map_or([None; 3], |c| c.get_last(["bootargs", "linux,initrd-start", "linux,initrd-end"]));
    let initrd = chosen_initrd(initrd_start, initrd_end);
    let options = bootargs
        .and_then(|b| core::str::from_utf8(b).ok())
        .map_or(Options::default(), |a| Options::from_bootargs(a.trim_end_matches('\0')));
    Ok(Description { platform: p, options, initrd })
}

/// The initrd range of /chosen: `linux,initrd-start` and `linux,initrd-end` (exclusive), each
/// one or two cells, as bootloaders write them; none where either is missing or malformed, or the
/// range is empty.
fn chosen_initrd(start: Option<&[u8]>, end: Option<&[u8]>) -> Option<crate::mm::layout::MemRange> {
    let cell = |v: &[u8]| match v.len() {
        4 | 8 => read_cells(v, 0, v.len() / 4),
        _ => None,
    };
    let (start, end) = (cell(start?)?, cell(end?)?);
    (end > start).then(|| crate::mm::layout::MemRange { base: start, size: end - start })
}

/// RAM: every enabled device_type = "memory" node directly under the root, every reg entry with a
/// size, sorted by address. None at all is left to the caller to judge (a bootloader fills in
/// /memory on some boards, so the tree as shipped has none; `cargo xtask inspect` still reports
/// the rest).
fn read_ram(p: &mut Platform, t: Tree, facts: &Facts) -> Result<(), DtbError> {
    p.ram_banks = 0;
    p.ram_ignored = facts.nmemory.saturating_sub(MAX_MEMORY_NODES);
    for &m in &facts.memory[..facts.nmemory.min(MAX_MEMORY_NODES)] {
        let mut path = Path { at: [0; PATH_MAX], len: 2 };
        path.at[0] = facts.root;
        path.at[1] = m;
        let (entries, mut i) = (regs(t, &path)?, 0);
        while let Some((base, size)) = entries.get(i)? {
            if size != 0 && !add_ram(p, base, size) {
                p.ram_ignored += 1;
            }
            i += 1;
        }
    }
    p.ram[..p.ram_banks].sort_unstable_by_key(|r| r.base);
    Ok(())
}

/// Add `base`/`size` to the RAM banks, merged with every bank it overlaps or touches (a
/// bootloader may split one bank into many entries: U-Boot on Exynos5 boards writes eight of
/// 256 MiB each); false when it is separate from all of them and there is no room.
fn add_ram(p: &mut Platform, base: u64, size: u64) -> bool {
    let (mut lo, mut hi) = (base, base.saturating_add(size));
    let mut i = 0;
    while i < p.ram_banks {
        let b = p.ram[i];
        if b.base <= hi && lo <= b.base.saturating_add(b.size) {
            lo = lo.min(b.base);
            hi = hi.max(b.base.saturating_add(b.size));
            p.ram_banks -= 1;
            p.ram[i] = p.ram[p.ram_banks];
        } else {
            i += 1;
        }
    }
    let Some(slot) = p.ram.get_mut(p.ram_banks) else { return false };
    *slot = crate::mm::layout::MemRange { base: lo, size: hi - lo };
    p.ram_banks += 1;
    true
}

/// The console: the node `/chosen/stdout-path` (an alias resolved) names, whatever UART it is,
/// else the one the `serial0` alias names (`by_path`, found by the pass), unless that node is
/// disabled; else the first enabled UART, in document order, that hypfw has a driver for. A
/// disabled UART is never written to: on a board it may be unclocked or unpowered (many i.MX
/// trees have `serial0` name a disabled UART and no stdout-path).
fn read_console(t: Tree, by_path: Option<&Path>, first_uart: Option<&Path>) -> Result<Option<Console>, DtbError> {
    if let Some(path) = by_path
        && is_enabled(path.node(t.b, path.len - 1)?.get_last(["status"])[0])
        && let Some(c) = console_from(t, path)?
    {
        return Ok(Some(c));
    }
    match first_uart {
        Some(path) => console_from(t, path),
        None => Ok(None),
    }
}

/// `/memreserve/` entries, then the static regions (`reg`) of `/reserved-memory`'s enabled
/// children, in CPU physical addresses.
fn read_reserved(p: &mut Platform, blob: &[u8], t: Tree, facts: &Facts) -> Result<(), DtbError> {
    let add = |p: &mut Platform, base: u64, size: u64| {
        // One that would run past the end of the address space ends there (a garbled entry
        // keeps what it covers, and every later `end()` stays exact).
        let size = size.min(u64::MAX - base);
        if size != 0 && p.nreserved < MAX_RESERVED {
            p.reserved[p.nreserved] = crate::mm::layout::MemRange { base, size };
            p.nreserved += 1;
        } else if size != 0 {
            p.reserved_ignored += 1;
        }
    };
    p.nreserved = 0;
    p.reserved_ignored = 0;
    let mut r = be32(blob, 16).unwrap_or(0) as usize;
    while let (Some(a), Some(b), Some(c), Some(d)) =
        (be32(blob, r), be32(blob, r + 4), be32(blob, r + 8), be32(blob, r + 12))
    {
        let (base, size) = ((a as u64) << 32 | b as u64, (c as u64) << 32 | d as u64);
        if base == 0 && size == 0 {
            break;
        }
        add(p, base, size);
        r += 16;
    }
    let Some(rm_at) = facts.reserved_memory else { return Ok(()) };
    let rm = Node::with_props_at(t.b, rm_at as usize);
    for child in rm.children() {
        let [status] = child.get_last(["status"]);
        if !is_enabled(status) {
            continue;
        }
        let mut path = Path { at: [0; PATH_MAX], len: 3 };
        path.at[..3].copy_from_slice(&[facts.root, rm_at, child.props_at() as u32]);
        let (entries, mut i) = (regs(t, &path)?, 0);
        while let Some((base, size)) = entries.get(i)? {
            add(p, base, size);
            i += 1;
        }
    }
    Ok(())
}

/// The enabled CPUs of /cpus (MPIDR affinity and whether PSCI starts them).
fn read_cpus(p: &mut Platform, cpus: Option<Node>, facts: &Facts) {
    p.ncpus = 0;
    p.cpus_ignored = 0;
    let Some(cpus) = cpus else { return };
    let ac = child_cells(cpus).0.clamp(1, 2);
    match facts.cpu_children.get(..facts.ncpu_children) {
        Some(children) => {
            for &at in children {
                read_cpu(p, Node::with_props_at(cpus.blocks(), at as usize), ac);
            }
        }
        None => cpus.children().for_each(|c| read_cpu(p, c, ac)),
    }
}

/// A child of /cpus (`ac` cells of MPIDR in its `reg`): an enabled CPU is kept.
#[inline(never)]
fn read_cpu(p: &mut Platform, c: Node, ac: usize) {
    let [reg, device_type, status, method] = c.get_last(["reg", "device_type", "status", "enable-method"]);
    if !is_enabled(status) || !device_type.is_some_and(|d| d.starts_with(b"cpu")) {
        return;
    }
    let Some(mpidr) = reg.and_then(|r| read_cells(r, 0, ac)) else { return };
    let psci = method.is_some_and(|m| m.starts_with(b"psci"));
    if p.ncpus < MAX_CPUS {
        p.cpus[p.ncpus] = Cpu { mpidr: mpidr as u32 & 0x00FF_FFFF, psci };
        p.ncpus += 1;
    } else {
        p.cpus_ignored += 1;
    }
}

#[cfg(test)]
mod tests;
