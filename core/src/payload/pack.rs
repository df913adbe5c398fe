//! The packed image: hypfw followed by a payload (and optionally an initrd and a command line),
//! so that one file boots with QEMU `-kernel` and U-Boot `bootz`.
//!
//! ```text
//! file offset 0          hypfw raw image (zImage header: end = size of the whole file)
//! image_end              pack header (128 bytes, below), page aligned
//!   + payload_off        payload bytes
//!   + initrd_off         initrd bytes (optional)
//!   + bootargs_off       command line, UTF-8, no NUL (optional)
//! ```
//!
//! All fields are little-endian u32. Offsets are from the header. Each blob and the header carry
//! a checksum ([`super::checksum`]: sums `a` and `b`), so a damaged file is a clear `fatal:` line
//! instead of a jump into garbage.

use super::checksum::{self, Sum};

pub const MAGIC: [u8; 8] = *b"HYPFWPK1";
/// Version 3: word sums (checked inside the copy) instead of CRC-32; version 2 gave the command
/// line a check of its own.
pub const VERSION: u32 = 3;
pub const HEADER_LEN: usize = 128;

/// How the payload is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A Linux zImage: position independent; hypfw chooses where it runs.
    ZImage,
    /// A raw image that must run at `load_addr`.
    Raw { load_addr: u32, entry_offset: u32 },
    /// A raw image linked for `link_addr` that hypfw may run elsewhere, applying the pack's
    /// relocation table (`abi::reloc` format) for the place it chooses (hypfw's self-test payload:
    /// so it runs wherever the board's RAM is).
    Relocatable { link_addr: u32, entry_offset: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pack<'a> {
    pub kind: Kind,
    pub payload: &'a [u8],
    pub initrd: Option<&'a [u8]>,
    pub bootargs: Option<&'a str>,
    /// The relocation table of a [`Kind::Relocatable`] payload.
    pub relocs: Option<&'a [u8]>,
    /// Header plus blobs.
    pub total_len: usize,
    /// The sums the pack gives for the payload and the initrd (checked by [`parse`], left to the
    /// caller by [`parse_deferred`]).
    pub payload_sum: Sum,
    pub initrd_sum: Sum,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackError {
    /// No pack header here (not an error: hypfw without a payload).
    Absent,
    UnsupportedVersion(u32),
    BadHeaderSum {
        stored: Sum,
        computed: Sum,
    },
    BadLayout(&'static str),
    BadSum {
        what: &'static str,
        stored: Sum,
        computed: Sum,
    },
    BadKind(u32),
    BootargsNotUtf8,
}

impl core::fmt::Display for PackError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            PackError::Absent => write!(f, "no payload pack after the image"),
            PackError::UnsupportedVersion(v) => {
                write!(f, "payload pack version {v}, this hypfw reads version {VERSION}")
            }
            PackError::BadHeaderSum { stored, computed } => write!(
                f,
                "payload pack header damaged (checksum {:#010x}/{:#010x}, header says {:#010x}/{:#010x})",
                computed.a, computed.b, stored.a, stored.b
            ),
            PackError::BadLayout(w) => write!(f, "payload pack header inconsistent: {w}"),
            PackError::BadSum { what, stored, computed } => write!(
                f,
                "{what} damaged (checksum {:#010x}/{:#010x}, pack header says {:#010x}/{:#010x})",
                computed.a, computed.b, stored.a, stored.b
            ),
            PackError::BadKind(k) => write!(f, "unknown payload kind {k}"),
            PackError::BootargsNotUtf8 => write!(f, "payload command line is not UTF-8"),
        }
    }
}

fn rd(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

// Field offsets in the header.
const F_VERSION: usize = 8;
const F_TOTAL: usize = 12;
const F_KIND: usize = 16;
const F_LOAD: usize = 20;
const F_ENTRY: usize = 24;
const F_PAYLOAD: usize = 28; // off, len, sum a
const F_INITRD: usize = 40; // off, len, sum a
const F_BOOTARGS: usize = 52; // off, len, sum a
const F_RELOCS: usize = 64; // off, len, sum a
/// Sum b of each blob, in the order payload, initrd, command line, relocation table.
const F_SUM_B: usize = 76;
/// The header's sums a and b, over every byte before them (bytes 92..120 are reserved, zero).
const F_HSUM: usize = 120;

/// The stored sums of the blob whose (off, len, sum a) triple is at `at`.
fn stored_sum(bytes: &[u8], at: usize) -> Sum {
    let slot = match at {
        F_PAYLOAD => 0,
        F_INITRD => 1,
        F_BOOTARGS => 2,
        _ => 3,
    };
    Sum { a: rd(bytes, at + 8), b: rd(bytes, F_SUM_B + 4 * slot) }
}

/// The total length of the pack whose header starts `bytes`, after checking magic and header CRC
/// only: how much to trust at an address.
pub fn total_len(header: &[u8]) -> Result<usize, PackError> {
    if header.len() < HEADER_LEN || header[..8] != MAGIC {
        return Err(PackError::Absent);
    }
    let v = rd(header, F_VERSION);
    if v != VERSION {
        return Err(PackError::UnsupportedVersion(v));
    }
    let stored = Sum { a: rd(header, F_HSUM), b: rd(header, F_HSUM + 4) };
    let computed = checksum::sum(&header[..F_HSUM]);
    if stored != computed {
        return Err(PackError::BadHeaderSum { stored, computed });
    }
    Ok(rd(header, F_TOTAL) as usize)
}

/// Parse and check a whole pack.
pub fn parse(bytes: &[u8]) -> Result<Pack<'_>, PackError> {
    let p = parse_deferred(bytes)?;
    check_copied("payload", checksum::sum(p.payload), p.payload_sum)?;
    if let Some(i) = p.initrd {
        check_copied("initrd", checksum::sum(i), p.initrd_sum)?;
    }
    Ok(p)
}

/// Parse a pack and check everything except the payload's and the initrd's sums, which the
/// caller checks on what it copies ([`Pack::payload_sum`], [`Pack::initrd_sum`], and
/// [`check_copied`]): the firmware sums inside its copy, so the bulk data is read once.
pub fn parse_deferred(bytes: &[u8]) -> Result<Pack<'_>, PackError> {
    let total = total_len(bytes)?;
    if total > bytes.len() || total < HEADER_LEN {
        return Err(PackError::BadLayout("total length beyond the data"));
    }
    let blob = |at: usize, what: &'static str| -> Result<&[u8], PackError> {
        let (off, len) = (rd(bytes, at) as usize, rd(bytes, at + 4) as usize);
        if len == 0 {
            return Ok(&[]);
        }
        if off < HEADER_LEN || off.checked_add(len).is_none_or(|e| e > total) {
            return Err(PackError::BadLayout(what));
        }
        Ok(&bytes[off..off + len])
    };
    let check = |data: &[u8], at: usize, what| check_copied(what, checksum::sum(data), stored_sum(bytes, at));
    let payload = blob(F_PAYLOAD, "payload outside the pack")?;
    if payload.is_empty() {
        return Err(PackError::BadLayout("empty payload"));
    }
    let initrd = blob(F_INITRD, "initrd outside the pack")?;
    let args = blob(F_BOOTARGS, "command line outside the pack")?;
    if !args.is_empty() {
        check(args, F_BOOTARGS, "command line")?;
    }
    let bootargs =
        if args.is_empty() { None } else { Some(core::str::from_utf8(args).map_err(|_| PackError::BootargsNotUtf8)?) };
    let relocs = blob(F_RELOCS, "relocation table outside the pack")?;
    if !relocs.is_empty() {
        check(relocs, F_RELOCS, "relocation table")?;
    }
    let kind = match rd(bytes, F_KIND) {
        0 => Kind::ZImage,
        1 => {
            let entry_offset = rd(bytes, F_ENTRY);
            if entry_offset as usize >= payload.len() {
                return Err(PackError::BadLayout("entry beyond the payload"));
            }
            Kind::Raw { load_addr: rd(bytes, F_LOAD), entry_offset }
        }
        2 => {
            let entry_offset = rd(bytes, F_ENTRY);
            if entry_offset as usize >= payload.len() {
                return Err(PackError::BadLayout("entry beyond the payload"));
            }
            if relocs.is_empty() {
                return Err(PackError::BadLayout("a relocatable payload without its relocation table"));
            }
            Kind::Relocatable { link_addr: rd(bytes, F_LOAD), entry_offset }
        }
        k => return Err(PackError::BadKind(k)),
    };
    Ok(Pack {
        kind,
        payload,
        initrd: (!initrd.is_empty()).then_some(initrd),
        bootargs,
        relocs: (!relocs.is_empty()).then_some(relocs),
        total_len: total,
        payload_sum: stored_sum(bytes, F_PAYLOAD),
        initrd_sum: stored_sum(bytes, F_INITRD),
    })
}

/// Compare the sums computed over a blob (or its copy) with the pack's.
pub fn check_copied(what: &'static str, computed: Sum, stored: Sum) -> Result<(), PackError> {
    if computed == stored { Ok(()) } else { Err(PackError::BadSum { what, stored, computed }) }
}

/// Build a pack (the `cargo xtask pack` side). Blobs are placed at 4 KiB-aligned offsets.
#[cfg(any(test, feature = "std"))]
pub fn build(kind: Kind, payload: &[u8], initrd: Option<&[u8]>, bootargs: Option<&str>) -> std::vec::Vec<u8> {
    build_with_relocs(kind, payload, initrd, bootargs, None)
}

/// As [`build`], with the relocation table of a [`Kind::Relocatable`] payload.
#[cfg(any(test, feature = "std"))]
pub fn build_with_relocs(
    kind: Kind,
    payload: &[u8],
    initrd: Option<&[u8]>,
    bootargs: Option<&str>,
    relocs: Option<&[u8]>,
) -> std::vec::Vec<u8> {
    let align = |v: usize| (v + 4095) & !4095;
    let p_off = align(HEADER_LEN);
    let i_off = align(p_off + payload.len());
    let i_len = initrd.map_or(0, |i| i.len());
    let b_off = align(i_off + i_len);
    let b_len = bootargs.map_or(0, str::len);
    let r_off = align(b_off + b_len);
    let r_len = relocs.map_or(0, |r| r.len());
    let total = if r_len > 0 { r_off + r_len } else { b_off + b_len };
    let mut out = std::vec![0u8; total];
    let mut put = |at: usize, v: u32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let sum_of = |b: Option<&[u8]>| b.map_or(Sum::default(), checksum::sum);
    let sums = [sum_of(Some(payload)), sum_of(initrd), sum_of(bootargs.map(str::as_bytes)), sum_of(relocs)];
    for (i, s) in sums.iter().enumerate() {
        put(F_SUM_B + 4 * i, s.b);
    }
    put(F_VERSION, VERSION);
    put(F_TOTAL, total as u32);
    match kind {
        Kind::ZImage => put(F_KIND, 0),
        Kind::Raw { load_addr, entry_offset } => {
            put(F_KIND, 1);
            put(F_LOAD, load_addr);
            put(F_ENTRY, entry_offset);
        }
        Kind::Relocatable { link_addr, entry_offset } => {
            put(F_KIND, 2);
            put(F_LOAD, link_addr);
            put(F_ENTRY, entry_offset);
        }
    }
    put(F_RELOCS, if r_len > 0 { r_off as u32 } else { 0 });
    put(F_RELOCS + 4, r_len as u32);
    put(F_RELOCS + 8, sums[3].a);
    put(F_PAYLOAD, p_off as u32);
    put(F_PAYLOAD + 4, payload.len() as u32);
    put(F_PAYLOAD + 8, sums[0].a);
    put(F_INITRD, if i_len > 0 { i_off as u32 } else { 0 });
    put(F_INITRD + 4, i_len as u32);
    put(F_INITRD + 8, sums[1].a);
    put(F_BOOTARGS, if b_len > 0 { b_off as u32 } else { 0 });
    put(F_BOOTARGS + 4, b_len as u32);
    put(F_BOOTARGS + 8, sums[2].a);
    out[..8].copy_from_slice(&MAGIC);
    out[p_off..p_off + payload.len()].copy_from_slice(payload);
    if let Some(i) = initrd {
        out[i_off..i_off + i.len()].copy_from_slice(i);
    }
    if let Some(b) = bootargs {
        out[b_off..b_off + b.len()].copy_from_slice(b.as_bytes());
    }
    if let Some(r) = relocs {
        out[r_off..r_off + r.len()].copy_from_slice(r);
    }
    let h = checksum::sum(&out[..F_HSUM]);
    out[F_HSUM..F_HSUM + 4].copy_from_slice(&h.a.to_le_bytes());
    out[F_HSUM + 4..F_HSUM + 8].copy_from_slice(&h.b.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relocatable_payloads_carry_their_table() {
        let kind = Kind::Relocatable { link_addr: 0x4200_0000, entry_offset: 4 };
        let pk = build_with_relocs(kind, &[1u8; 64], None, None, Some(&[7u8; 20]));
        let p = parse(&pk).unwrap();
        assert_eq!(p.kind, kind);
        assert_eq!(p.relocs, Some(&[7u8; 20][..]));
        let mut damaged = pk.clone();
        let at = rd(&pk, F_RELOCS) as usize;
        damaged[at] ^= 1;
        assert!(matches!(parse(&damaged), Err(PackError::BadSum { what: "relocation table", .. })));
        let no_table = build(kind, &[1u8; 64], None, None);
        assert!(matches!(parse(&no_table), Err(PackError::BadLayout(_))));
    }
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let pk = build(Kind::ZImage, b"kernel bytes", Some(b"initrd"), Some("console=ttyAMA0"));
        let p = parse(&pk).unwrap();
        assert_eq!(
            (p.kind, p.payload, p.initrd, p.bootargs),
            (Kind::ZImage, &b"kernel bytes"[..], Some(&b"initrd"[..]), Some("console=ttyAMA0"))
        );
        assert_eq!(p.total_len, pk.len());
        let raw = build(Kind::Raw { load_addr: 0x4200_0000, entry_offset: 4 }, &[1; 64], None, None);
        let p = parse(&raw).unwrap();
        assert_eq!((p.kind, p.initrd, p.bootargs), (Kind::Raw { load_addr: 0x4200_0000, entry_offset: 4 }, None, None));
    }

    #[test]
    fn damage_is_named() {
        let pk = build(Kind::ZImage, b"kernel bytes", Some(b"initrd"), None);
        assert_eq!(parse(&[0u8; 64]), Err(PackError::Absent));
        let mut h = pk.clone();
        h[F_TOTAL] ^= 1;
        assert!(matches!(parse(&h), Err(PackError::BadHeaderSum { .. })));
        let mut d = pk.clone();
        d[4096] ^= 0xFF; // first payload byte
        assert!(matches!(parse(&d), Err(PackError::BadSum { what: "payload", .. })));
        let mut d = pk.clone();
        d[8192] ^= 0xFF; // first initrd byte
        assert!(matches!(parse(&d), Err(PackError::BadSum { what: "initrd", .. })));
        assert!(matches!(parse(&pk[..pk.len() - 1]), Err(PackError::BadLayout(_))));
        let mut a = build(Kind::ZImage, b"kernel bytes", None, Some("console=ttyAMA0"));
        let at = a.len() - 3;
        a[at] ^= 0x20; // a letter of the command line changes case
        assert!(matches!(parse(&a), Err(PackError::BadSum { what: "command line", .. })));
        let mut v = pk.clone();
        v[F_VERSION] = 9;
        assert_eq!(parse(&v), Err(PackError::UnsupportedVersion(9)));
    }

    proptest! {
        /// No corruption of any byte is accepted silently, and none panics.
        #[test]
        fn any_single_byte_damage_is_detected(pos in 0usize..12300, x in 1u8..=255) {
            let pk = build(Kind::ZImage, &[0x5A; 100], Some(&[0xA5; 10]), Some("a=b"));
            prop_assume!(pos < pk.len());
            let mut d = pk.clone();
            d[pos] ^= x;
            let r = parse(&d);
            // Bytes that belong to no field and no blob (padding) may change freely.
            let in_blob = (4096..4196).contains(&pos) || (8192..8202).contains(&pos) || pos < HEADER_LEN
                || (12288..12291).contains(&pos);
            if in_blob {
                prop_assert!(r.is_err(), "damage at {pos} not detected");
            }
        }
    }
}
