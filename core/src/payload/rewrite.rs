//! The device tree the payload gets: the firmware's tree with hypfw's region reserved, the
//! payload's command line and initrd in /chosen, and, when hypfw is the PSCI provider (it entered
//! from Secure SVC, where the platform offers none), a /psci node and PSCI enable methods.
//!
//! Written by splicing: one pass over the source's structure block copies every token into the
//! destination and adds, drops or replaces the few properties and nodes the edits touch; the
//! strings block is copied with the names it lacks appended. No allocator, no model of the tree,
//! no limit on name lengths (board trees have names of 33 characters and more), and `FDT_NOP`
//! tokens are dropped on the way. Hand-written because the crate it replaces (`dtoolkit`) built a
//! whole tree in a heap, refused names longer than 31 characters, and cost ~50 KB of image.

use crate::mm::layout::MemRange;
#[cfg(test)]
use crate::platform::dtb::strip_nops;
use crate::platform::dtb::{DtbError, PsciMethod, validate_allowing_nops};

use crate::platform::dtb::{
    FDT_BEGIN_NODE as BEGIN_NODE, FDT_END as END, FDT_END_NODE as END_NODE, FDT_MAGIC, FDT_NOP as NOP,
    FDT_PROP as PROP, HEADER_LEN,
};

#[derive(Clone, Copy, Debug)]
pub struct Edits<'a> {
    /// hypfw's region: never to be used by the payload.
    pub reserved: MemRange,
    pub bootargs: Option<&'a str>,
    /// Physical range of the initrd as placed.
    pub initrd: Option<MemRange>,
    /// What the payload's tree says about PSCI.
    pub psci: PsciNode,
}

/// The payload's `/psci`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciNode {
    /// As the firmware's tree has it (the platform's PSCI, which hypfw proxies).
    Keep,
    /// hypfw is the provider: a new /psci with `method`, SMC (trapped by HCR.TSC) where the CPU
    /// has the Security Extensions, else HVC (an SMC is undefined there). When hypfw starts CPUs
    /// (its own pen: entered from Secure SVC, or CPUs it sent there through the SoC's release
    /// mailbox), every CPU gets `enable-method = "psci"`; when it cannot, no CPU says PSCI starts
    /// it (`enable-method = "psci"` goes, other methods stay).
    Provide { method: PsciMethod, starts_cpus: bool },
}

/// Why a rewrite failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RewriteError {
    /// The source tree is not valid.
    Source(DtbError),
    /// The result does not fit the room given for it.
    NoRoom { room: usize },
}

impl core::fmt::Display for RewriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RewriteError::Source(e) => write!(f, "the firmware's device tree: {e}"),
            RewriteError::NoRoom { room } => {
                write!(f, "the payload's device tree needs more than the {room} bytes placed for it")
            }
        }
    }
}

fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// The property names the edits may add: each gets an offset in the output's strings block.
const NAMES: [&str; 11] = [
    "bootargs",
    "linux,initrd-start",
    "linux,initrd-end",
    "#address-cells",
    "#size-cells",
    "ranges",
    "reg",
    "no-map",
    "compatible",
    "method",
    "enable-method",
];

/// The destination, written front to back.
struct Out<'o> {
    buf: &'o mut [u8],
    at: usize,
}

impl Out<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<(), RewriteError> {
        let end = self.at + b.len();
        let room = self.buf.len();
        self.buf.get_mut(self.at..end).ok_or(RewriteError::NoRoom { room })?.copy_from_slice(b);
        self.at = end;
        Ok(())
    }
    fn word(&mut self, v: u32) -> Result<(), RewriteError> {
        self.bytes(&v.to_be_bytes())
    }
    fn align4(&mut self) -> Result<(), RewriteError> {
        while !self.at.is_multiple_of(4) {
            self.bytes(&[0])?;
        }
        Ok(())
    }
    fn begin_node(&mut self, name: &str) -> Result<(), RewriteError> {
        self.word(BEGIN_NODE)?;
        self.bytes(name.as_bytes())?;
        self.bytes(&[0])?;
        self.align4()
    }
    fn end_node(&mut self) -> Result<(), RewriteError> {
        self.word(END_NODE)
    }
    fn prop(&mut self, nameoff: u32, value: &[u8]) -> Result<(), RewriteError> {
        self.word(PROP)?;
        self.word(value.len() as u32)?;
        self.word(nameoff)?;
        self.bytes(value)?;
        self.align4()
    }
    /// A property whose value is a list of cells.
    fn prop_cells(&mut self, nameoff: u32, cells: &[u32]) -> Result<(), RewriteError> {
        let mut v = [0u8; 16];
        for (i, c) in cells.iter().enumerate() {
            v[4 * i..4 * i + 4].copy_from_slice(&c.to_be_bytes());
        }
        self.prop(nameoff, &v[..4 * cells.len()])
    }
    /// A string property (NUL added).
    fn prop_str(&mut self, nameoff: u32, s: &str) -> Result<(), RewriteError> {
        self.word(PROP)?;
        self.word(s.len() as u32 + 1)?;
        self.word(nameoff)?;
        self.bytes(s.as_bytes())?;
        self.bytes(&[0])?;
        self.align4()
    }
}

/// `v` in `n` cells (1 or 2), most significant first.
fn cells_of(v: u64, n: u32, out: &mut [u32; 4], at: &mut usize) {
    if n >= 2 {
        out[*at] = (v >> 32) as u32;
        *at += 1;
    }
    out[*at] = v as u32;
    *at += 1;
}

/// What the copy is inside of.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Other,
    /// A `/memory@...` node: its `reg` loses hypfw's region.
    Memory,
    Chosen,
    ReservedMemory,
    Cpus,
    Cpu,
}

struct Writer<'e> {
    e: &'e Edits<'e>,
    names: [u32; NAMES.len()],
    /// The root's #address-cells / #size-cells (the reg of hypfw's reserved node uses them).
    ac: u32,
    sc: u32,
    seen_chosen: bool,
    seen_reserved: bool,
}

impl Writer<'_> {
    fn name(&self, n: &str) -> u32 {
        self.names[NAMES.iter().position(|x| *x == n).unwrap()]
    }

    /// Should the source's property `name` (= `value`) of a node at `place` be left out?
    fn drops(&self, place: Place, name: &[u8], value: &[u8]) -> bool {
        match place {
            Place::Chosen => {
                (self.e.bootargs.is_some() && name == b"bootargs")
                    || (self.e.initrd.is_some() && (name == b"linux,initrd-start" || name == b"linux,initrd-end"))
            }
            // Linux's 32-bit SMP code also reads `enable-method` on /cpus itself (the AST2600's
            // tree names its mailbox there): the same rule as on each CPU.
            Place::Cpus | Place::Cpu => match self.e.psci {
                PsciNode::Keep => false,
                PsciNode::Provide { starts_cpus: true, .. } => name == b"enable-method",
                // hypfw cannot start CPUs: no CPU may say PSCI starts it.
                PsciNode::Provide { starts_cpus: false, .. } => {
                    name == b"enable-method" && value.starts_with(b"psci\0")
                }
            },
            _ => false,
        }
    }

    /// The properties the edits add at the end of a node's own properties.
    fn add_props(&self, o: &mut Out, place: Place, cpu_node: bool) -> Result<(), RewriteError> {
        match place {
            Place::Chosen => {
                if let Some(b) = self.e.bootargs {
                    o.prop_str(self.name("bootargs"), b)?;
                }
                if let Some(i) = self.e.initrd {
                    // linux,initrd-end is exclusive; Linux reads either width, 64-bit covers LPAE.
                    o.prop_cells(self.name("linux,initrd-start"), &[(i.base >> 32) as u32, i.base as u32])?;
                    o.prop_cells(self.name("linux,initrd-end"), &[(i.end() >> 32) as u32, i.end() as u32])?;
                }
            }
            Place::Cpu if matches!(self.e.psci, PsciNode::Provide { starts_cpus: true, .. }) && cpu_node => {
                o.prop_str(self.name("enable-method"), "psci")?
            }
            _ => {}
        }
        Ok(())
    }

    /// A memory node's `reg` with hypfw's region cut out of it: a payload that reads only
    /// `/memory` (many bare-metal ones do, and U-Boot when it relocates itself to the top of RAM)
    /// never meets the stage-2 hole. Entries that do not overlap the region are copied as they are.
    fn memory_reg(&self, o: &mut Out, nameoff: u32, value: &[u8]) -> Result<(), RewriteError> {
        let (ac, sc) = (self.ac as usize, self.sc as usize);
        let stride = 4 * (ac + sc);
        let cells = |b: &[u8], n: usize| (0..n).fold(0u64, |v, i| (v << 32) | be32(b, 4 * i) as u64);
        if !(1..=2).contains(&ac) || !(1..=2).contains(&sc) || value.is_empty() || !value.len().is_multiple_of(stride) {
            return o.prop(nameoff, value);
        }
        let r = self.e.reserved;
        // At most one more entry than the source: a bank split around the region.
        let mut out = [0u8; 16 * 33];
        let mut n = 0;
        let mut push = |base: u64, size: u64| {
            if size == 0 || n + stride > out.len() {
                return;
            }
            let (mut c, mut at) = ([0u32; 4], 0);
            cells_of(base, self.ac, &mut c, &mut at);
            cells_of(size, self.sc, &mut c, &mut at);
            for w in &c[..at] {
                out[n..n + 4].copy_from_slice(&w.to_be_bytes());
                n += 4;
            }
        };
        for e in value.chunks_exact(stride).take(32) {
            let (base, size) = (cells(e, ac), cells(&e[4 * ac..], sc));
            let end = base.saturating_add(size);
            if r.size == 0 || end <= r.base || r.end() <= base {
                push(base, size);
            } else {
                push(base, r.base.saturating_sub(base).min(size));
                if end > r.end() {
                    push(r.end(), end - r.end());
                }
            }
        }
        o.prop(nameoff, &out[..n])
    }

    /// `/reserved-memory/hypfw@...`: no-map, so the payload neither uses nor maps it. (No
    /// /memreserve/ entry as well: Linux would reserve the range from it first and then refuse
    /// the no-map node as overlapping, mapping the region after all.)
    fn hypfw_node(&self, o: &mut Out) -> Result<(), RewriteError> {
        let r = self.e.reserved;
        let mut name = [0u8; 32];
        let n = hex_name(&mut name, b"hypfw@", r.base);
        o.begin_node(core::str::from_utf8(&name[..n]).unwrap_or("hypfw"))?;
        let (mut cells, mut at) = ([0u32; 4], 0);
        cells_of(r.base, self.ac, &mut cells, &mut at);
        cells_of(r.size, self.sc, &mut cells, &mut at);
        o.prop_cells(self.name("reg"), &cells[..at])?;
        o.prop(self.name("no-map"), &[])?;
        o.end_node()
    }

    /// The nodes the root gets at its end: those the source lacked, and /psci when provided.
    fn root_additions(&self, o: &mut Out) -> Result<(), RewriteError> {
        if !self.seen_reserved {
            o.begin_node("reserved-memory")?;
            o.prop_cells(self.name("#address-cells"), &[self.ac])?;
            o.prop_cells(self.name("#size-cells"), &[self.sc])?;
            o.prop(self.name("ranges"), &[])?;
            self.hypfw_node(o)?;
            o.end_node()?;
        }
        if !self.seen_chosen {
            o.begin_node("chosen")?;
            self.add_props(o, Place::Chosen, false)?;
            o.end_node()?;
        }
        let method = match self.e.psci {
            PsciNode::Keep => return Ok(()),
            PsciNode::Provide { method: PsciMethod::Smc, .. } => "smc",
            PsciNode::Provide { method: PsciMethod::Hvc, .. } => "hvc",
        };
        o.begin_node("psci")?;
        o.prop(self.name("compatible"), b"arm,psci-1.0\0arm,psci-0.2\0")?;
        o.prop_str(self.name("method"), method)?;
        o.end_node()?;
        Ok(())
    }
}

/// `prefix` followed by `v` in lower-case hex (a unit address), into `out`; returns the length.
fn hex_name(out: &mut [u8; 32], prefix: &[u8], v: u64) -> usize {
    out[..prefix.len()].copy_from_slice(prefix);
    let mut n = prefix.len();
    let digits = if v == 0 { 1 } else { (64 - v.leading_zeros()).div_ceil(4) };
    for i in (0..digits).rev() {
        out[n] = b"0123456789abcdef"[((v >> (4 * i)) & 0xF) as usize];
        n += 1;
    }
    n
}

/// Apply `e` to the tree in `src`, writing the result into `out`; returns its length.
pub fn rewrite(src: &[u8], e: &Edits, out: &mut [u8]) -> Result<usize, RewriteError> {
    validate_allowing_nops(src).map_err(RewriteError::Source)?;
    let h = |i: usize| be32(src, 4 * i) as usize;
    let (off_struct, off_strings, off_rsv, boot_cpuid) = (h(2), h(3), h(4), h(7) as u32);
    let (size_strings, size_struct) = (h(8), h(9));
    let st = &src[off_struct..off_struct + size_struct];
    let strings = &src[off_strings..off_strings + size_strings];

    // The strings block: the source's, then the names the edits need that it lacks.
    let mut names = [0u32; NAMES.len()];
    let mut appended = 0usize;
    for (i, n) in NAMES.iter().enumerate() {
        names[i] = match find_string(strings, n) {
            Some(off) => off as u32,
            None => {
                let off = size_strings + appended;
                appended += n.len() + 1;
                off as u32
            }
        };
    }

    let mut o = Out { buf: out, at: 0 };
    o.bytes(&[0; HEADER_LEN])?;
    // Memory reservation block: copied, entries and terminator.
    o.align8()?;
    let rsv_at = o.at;
    let mut r = off_rsv;
    loop {
        let entry = &src[r..r + 16];
        o.bytes(entry)?;
        r += 16;
        if entry.iter().all(|&b| b == 0) {
            break;
        }
    }
    let struct_at = o.at;
    let mut w = Writer { e, names, ac: 2, sc: 1, seen_chosen: false, seen_reserved: false };
    root_cells(st, strings, &mut w.ac, &mut w.sc);
    copy_structure(st, strings, &mut w, &mut o)?;
    let struct_len = o.at - struct_at;
    let strings_at = o.at;
    o.bytes(strings)?;
    for (i, n) in NAMES.iter().enumerate() {
        if names[i] as usize >= size_strings {
            o.bytes(n.as_bytes())?;
            o.bytes(&[0])?;
        }
    }
    let strings_len = o.at - strings_at;
    o.align4()?;
    let total = o.at;
    let header = [
        FDT_MAGIC,
        total as u32,
        struct_at as u32,
        strings_at as u32,
        rsv_at as u32,
        17,
        16,
        boot_cpuid,
        strings_len as u32,
        struct_len as u32,
    ];
    for (i, v) in header.iter().enumerate() {
        o.buf[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
    Ok(total)
}

impl Out<'_> {
    fn align8(&mut self) -> Result<(), RewriteError> {
        while !self.at.is_multiple_of(8) {
            self.bytes(&[0])?;
        }
        Ok(())
    }
}

/// Offset of `s` as a whole NUL-terminated string in a strings block.
fn find_string(strings: &[u8], s: &str) -> Option<usize> {
    let mut off = 0;
    for piece in strings.split(|&b| b == 0) {
        if piece == s.as_bytes() {
            return Some(off);
        }
        off += piece.len() + 1;
    }
    None
}

/// The root node's #address-cells and #size-cells (left at the defaults when absent).
fn root_cells(st: &[u8], strings: &[u8], ac: &mut u32, sc: &mut u32) {
    let mut p = 0;
    let mut depth = 0;
    while p + 4 <= st.len() {
        let tok = be32(st, p);
        p += 4;
        match tok {
            BEGIN_NODE => {
                depth += 1;
                if depth > 1 {
                    return;
                }
                let n = st[p..].iter().position(|&b| b == 0).unwrap_or(0);
                p = (p + n + 1 + 3) & !3;
            }
            PROP => {
                let (len, nameoff) = (be32(st, p) as usize, be32(st, p + 4) as usize);
                let name = name_at(strings, nameoff);
                if len == 4 && name == b"#address-cells" {
                    *ac = be32(st, p + 8);
                } else if len == 4 && name == b"#size-cells" {
                    *sc = be32(st, p + 8);
                }
                p = (p + 8 + len + 3) & !3;
            }
            NOP => {}
            _ => return,
        }
    }
}

fn name_at(strings: &[u8], off: usize) -> &[u8] {
    let s = &strings[off.min(strings.len())..];
    &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
}

/// One pass over a validated structure block: copy, with the edits.
fn copy_structure(st: &[u8], strings: &[u8], w: &mut Writer, o: &mut Out) -> Result<(), RewriteError> {
    // Per open node: where it is, whether its own properties are still open (additions go in
    // before its first child or its end), whether it is a CPU, whether it is left out.
    const MAX_DEPTH: usize = 64;
    let mut place = [Place::Other; MAX_DEPTH];
    let mut props_open = [false; MAX_DEPTH];
    let mut is_cpu = [false; MAX_DEPTH];
    let mut depth = 0usize;
    // Depth at which a skipped subtree (the source's /psci when hypfw provides its own) began.
    let mut skipping: Option<usize> = None;
    let mut p = 0;
    loop {
        let tok = be32(st, p);
        p += 4;
        match tok {
            BEGIN_NODE => {
                let n = st[p..].iter().position(|&b| b == 0).unwrap_or(0);
                let name = &st[p..p + n];
                p = (p + n + 1 + 3) & !3;
                if depth > 0 && props_open[depth - 1] && skipping.is_none() {
                    props_open[depth - 1] = false;
                    w.add_props(o, place[depth - 1], is_cpu[depth - 1])?;
                }
                let base = name.split(|&b| b == b'@').next().unwrap_or(name);
                let here = match (depth, base) {
                    (1, b"chosen") => Place::Chosen,
                    (1, b"reserved-memory") => Place::ReservedMemory,
                    (1, b"cpus") => Place::Cpus,
                    (1, b"memory") => Place::Memory,
                    (2, _) if place[1] == Place::Cpus => Place::Cpu,
                    _ => Place::Other,
                };
                if depth == 1 && base == b"psci" && w.e.psci != PsciNode::Keep && skipping.is_none() {
                    skipping = Some(depth);
                }
                if depth >= MAX_DEPTH {
                    return Err(RewriteError::Source(DtbError::BadStructure { offset: p, what: "nesting too deep" }));
                }
                match here {
                    Place::Chosen => w.seen_chosen = true,
                    Place::ReservedMemory => w.seen_reserved = true,
                    _ => {}
                }
                place[depth] = here;
                props_open[depth] = true;
                is_cpu[depth] = false;
                depth += 1;
                if skipping.is_none() {
                    o.begin_node(core::str::from_utf8(name).unwrap_or(""))?;
                }
            }
            END_NODE => {
                depth -= 1;
                if skipping == Some(depth) {
                    skipping = None;
                    continue;
                }
                if skipping.is_some() {
                    continue;
                }
                if props_open[depth] {
                    w.add_props(o, place[depth], is_cpu[depth])?;
                }
                if place[depth] == Place::ReservedMemory {
                    w.hypfw_node(o)?;
                }
                if depth == 0 {
                    w.root_additions(o)?;
                }
                o.end_node()?;
            }
            PROP => {
                let (len, nameoff) = (be32(st, p) as usize, be32(st, p + 4) as usize);
                let value = &st[p + 8..p + 8 + len];
                p = (p + 8 + len + 3) & !3;
                let name = name_at(strings, nameoff);
                if skipping.is_some() {
                    continue;
                }
                let d = depth - 1;
                if name == b"device_type" && value.starts_with(b"cpu") {
                    is_cpu[d] = true;
                }
                if place[d] == Place::Memory && name == b"reg" {
                    w.memory_reg(o, nameoff as u32, value)?;
                } else if !w.drops(place[d], name, value) {
                    o.prop(nameoff as u32, value)?;
                }
            }
            NOP => {}
            END => {
                o.word(END)?;
                return Ok(());
            }
            _ => return Err(RewriteError::Source(DtbError::BadStructure { offset: p - 4, what: "unknown token" })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::dtb::parse;
    use std::vec;
    use std::vec::Vec;

    const VIRT: &[u8] = include_bytes!("../../../tests/fixtures/qemu-virt-smp4.dtb");
    const SECURE: &[u8] = include_bytes!("../../../tests/fixtures/qemu-virt-secure-smp4.dtb");
    const BOARD: &[u8] = include_bytes!("../../../tests/fixtures/board-ranges.dtb");

    fn edits() -> Edits<'static> {
        Edits {
            reserved: MemRange { base: 0x7FE0_0000, size: 2 << 20 },
            bootargs: Some("console=ttyAMA0 rdinit=/init"),
            initrd: Some(MemRange { base: 0x5F00_0000, size: 0x12345 }),
            psci: PsciNode::Keep,
        }
    }

    fn run(src: &[u8], e: &Edits) -> Vec<u8> {
        let mut out = vec![0u8; 1 << 20];
        let n = rewrite(src, e, &mut out).unwrap();
        out.truncate(n);
        crate::platform::dtb::validate(&out).unwrap();
        out
    }

    fn read_u64(v: &[u8]) -> u64 {
        v.iter().fold(0, |a, &b| (a << 8) | b as u64)
    }

    #[test]
    fn region_reserved_and_chosen_set() {
        let out = run(VIRT, &edits());
        let fdt = fdt::Fdt::new(&out).unwrap();
        let hyp = fdt.find_node("/reserved-memory/hypfw@7fe00000").expect("reserved node");
        assert!(hyp.property("no-map").is_some());
        assert_eq!(hyp.property("reg").unwrap().value, &[0, 0, 0, 0, 0x7F, 0xE0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0][..]);
        let chosen = fdt.find_node("/chosen").unwrap();
        assert_eq!(chosen.property("bootargs").unwrap().value, b"console=ttyAMA0 rdinit=/init\0");
        assert_eq!(read_u64(chosen.property("linux,initrd-start").unwrap().value), 0x5F00_0000);
        assert_eq!(read_u64(chosen.property("linux,initrd-end").unwrap().value), 0x5F01_2345);
        assert_eq!(fdt.memory_reservations().count(), 0, "no-map node only, no /memreserve/ for the same range");
        // Everything hypfw read before is still there.
        let p = parse(&out).unwrap();
        assert_eq!(p.ncpus, 4);
        assert_eq!(p.console.map(|c| c.base), Some(0x0900_0000));
        assert_eq!(p.psci, Some(crate::platform::dtb::PsciMethod::Smc));
        let mut before = parse(VIRT).unwrap();
        assert_eq!(p.reserved(), &[edits().reserved], "hypfw's region is reserved in the payload's tree");
        assert_eq!(p.ram(), &[MemRange { base: 0x4000_0000, size: 0x3FE0_0000 }], "and cut out of /memory");
        before.reserved = p.reserved;
        before.nreserved = p.nreserved;
        before.ram = p.ram;
        let initrd = crate::platform::dtb::describe(&out).unwrap().initrd;
        assert_eq!(initrd, Some(MemRange { base: 0x5F00_0000, size: 0x12345 }), "the initrd as /chosen names it");
        assert_eq!(p, before, "the platform reads the same otherwise");
    }

    /// A region in the middle of a bank splits it; banks that do not touch it stay whole.
    #[test]
    fn memory_is_split_around_hypfws_region() {
        let mut e = edits();
        e.reserved = MemRange { base: 0x9000_0000, size: 2 << 20 };
        let out = run(BOARD, &e); // banks 0x8000_0000 + 1 GiB and 0x2_0000_0000 + 1 GiB
        let p = parse(&out).unwrap();
        assert_eq!(
            p.ram(),
            &[
                MemRange { base: 0x8000_0000, size: 0x1000_0000 },
                MemRange { base: 0x9020_0000, size: 0x2FE0_0000 },
                MemRange { base: 0x2_0000_0000, size: 0x4000_0000 },
            ]
        );
    }

    #[test]
    fn one_cell_trees_get_one_cell_reg() {
        let mut e = edits();
        e.reserved = MemRange { base: 0xBFE0_0000, size: 2 << 20 };
        let out = run(BOARD, &e);
        let fdt = fdt::Fdt::new(&out).unwrap();
        // board-ranges.dts has #address-cells = #size-cells = 2 at the root
        let hyp = fdt.find_node("/reserved-memory/hypfw@bfe00000").unwrap();
        assert_eq!(hyp.property("reg").unwrap().value.len(), 16);
    }

    #[test]
    fn psci_provided_when_hypfw_is_the_provider() {
        let mut e = edits();
        e.psci = PsciNode::Provide { method: PsciMethod::Smc, starts_cpus: true };
        e.bootargs = None;
        e.initrd = None;
        let out = run(SECURE, &e);
        let p = parse(&out).unwrap();
        assert_eq!(p.psci, Some(crate::platform::dtb::PsciMethod::Smc));
        assert!(p.cpus().iter().all(|c| c.psci));
        let fdt = fdt::Fdt::new(&out).unwrap();
        assert!(fdt.find_node("/chosen").unwrap().property("linux,initrd-start").is_none());
        assert_eq!(fdt.all_nodes().filter(|n| n.name == "psci").count(), 1);
    }

    /// hypfw as the provider by each conduit: where it cannot start CPUs (no usable PSCI on the
    /// platform), no CPU says PSCI starts it; where it can (its pen, or CPUs it started through
    /// the SoC's release mailbox), every CPU does, over whatever method it named.
    #[test]
    fn psci_provided_by_either_conduit_with_or_without_cpu_on() {
        for (method, starts_cpus, src) in
            [(PsciMethod::Hvc, false, VIRT), (PsciMethod::Hvc, true, SECURE), (PsciMethod::Smc, true, VIRT)]
        {
            let mut e = edits();
            e.psci = PsciNode::Provide { method, starts_cpus };
            let out = run(src, &e);
            let p = parse(&out).unwrap();
            assert_eq!(p.psci, Some(method));
            assert!(p.cpus().iter().all(|c| c.psci == starts_cpus), "{method:?} {starts_cpus}");
            let fdt = fdt::Fdt::new(&out).unwrap();
            assert_eq!(fdt.all_nodes().filter(|n| n.name == "psci").count(), 1);
            for cpu in fdt.find_node("/cpus").unwrap().children().filter(|n| n.name.starts_with("cpu@")) {
                let m = cpu.property("enable-method").and_then(|m| m.as_str());
                assert_eq!(m == Some("psci"), starts_cpus, "{method:?} {starts_cpus}");
            }
        }
    }

    /// The AST2600's tree names its own SMP method on /cpus: where hypfw starts the CPUs, that
    /// goes too (the mailbox it names is refused to the payload); where hypfw cannot, it stays.
    #[test]
    fn an_enable_method_on_cpus_itself_follows_the_same_rule() {
        let mut b = crate::payload::fdt_build::Builder::new();
        b.node("").prop("#address-cells", &1u32.to_be_bytes()).prop("#size-cells", &1u32.to_be_bytes());
        b.node("memory@80000000").prop("device_type", b"memory\0");
        b.prop("reg", &[0x80, 0, 0, 0, 0x40, 0, 0, 0]).end();
        b.node("cpus").prop("#address-cells", &1u32.to_be_bytes()).prop("#size-cells", &0u32.to_be_bytes());
        b.prop("enable-method", b"aspeed,ast2600-smp\0");
        for (name, reg) in [("cpu@f00", 0xF00u32), ("cpu@f01", 0xF01)] {
            b.node(name).prop("device_type", b"cpu\0").prop("reg", &reg.to_be_bytes()).end();
        }
        b.end().end();
        let src = b.finish();
        for starts_cpus in [true, false] {
            let mut e = edits();
            e.psci = PsciNode::Provide { method: PsciMethod::Hvc, starts_cpus };
            let out = run(&src, &e);
            let fdt = fdt::Fdt::new(&out).unwrap();
            let on_cpus = fdt.find_node("/cpus").unwrap().property("enable-method").and_then(|m| m.as_str());
            assert_eq!(on_cpus, (!starts_cpus).then_some("aspeed,ast2600-smp"));
            assert_eq!(parse(&out).unwrap().cpus().iter().filter(|c| c.psci).count(), if starts_cpus { 2 } else { 0 });
        }
    }

    #[test]
    fn a_result_larger_than_its_room_is_refused() {
        let mut out = vec![0u8; 512];
        assert_eq!(rewrite(VIRT, &edits(), &mut out), Err(RewriteError::NoRoom { room: 512 }));
    }

    /// The shape of the trees Debian ships for the TK1 and the Arndale: names of more than 31
    /// characters; and libfdt's leftovers: NOPs between properties and nodes.
    fn long_names_with_nops() -> Vec<u8> {
        let mut b = crate::payload::fdt_build::Builder::new();
        b.node("").prop("#address-cells", &1u32.to_be_bytes()).prop("#size-cells", &1u32.to_be_bytes()).nop();
        b.node("memory@80000000").prop("device_type", b"memory\0");
        b.prop("reg", &[0x80, 0, 0, 0, 0x40, 0, 0, 0]).end().nop();
        b.node("external-memory-controller@7001b000").prop("nvidia,external-memory-controller", &[0, 0, 0, 1]);
        b.nop().prop("samsung,exynos-sataphy-i2c-phandle", &[0, 0, 0, 2]).end();
        b.node("chosen").prop("bootargs", b"old\0").nop().prop("stdout-path", b"/serial@1000\0").end();
        b.node("serial@1000").prop("compatible", b"arm,pl011\0").prop("reg", &[0, 0, 0x10, 0, 0, 0, 0x10, 0]).end();
        b.end();
        b.finish()
    }

    #[test]
    fn long_names_survive_and_nops_are_dropped() {
        let src = long_names_with_nops();
        let out = run(&src, &edits());
        let fdt = fdt::Fdt::new(&out).unwrap();
        let emc = fdt.find_node("/external-memory-controller@7001b000").unwrap();
        assert!(emc.property("nvidia,external-memory-controller").is_some());
        assert!(emc.property("samsung,exynos-sataphy-i2c-phandle").is_some());
        let chosen = fdt.find_node("/chosen").unwrap();
        assert_eq!(chosen.property("bootargs").unwrap().value, b"console=ttyAMA0 rdinit=/init\0");
        assert_eq!(chosen.property("stdout-path").unwrap().value, b"/serial@1000\0");
        assert_eq!(strip_nops(&mut out.clone()), 0, "no NOP left");
        assert!(fdt.find_node("/reserved-memory/hypfw@7fe00000").is_some());
    }

    #[test]
    fn nops_are_stripped_in_place_and_the_tree_reads_the_same() {
        let mut src = long_names_with_nops();
        assert!(parse(&src).is_err(), "the fdt crate cannot read a node after a NOP");
        let before = be32(&src, 36);
        assert_eq!(strip_nops(&mut src), 4);
        assert_eq!(be32(&src, 36), before - 16);
        let p = parse(&src).unwrap();
        assert_eq!(p.ram()[0], MemRange { base: 0x8000_0000, size: 0x4000_0000 });
        assert_eq!(p.console.map(|c| c.base), Some(0x1000));
    }

    #[test]
    fn unit_addresses_in_hex() {
        let mut n = [0u8; 32];
        let l = hex_name(&mut n, b"hypfw@", 0x1_BFE0_0000);
        assert_eq!(&n[..l], b"hypfw@1bfe00000");
        let l = hex_name(&mut n, b"x@", 0);
        assert_eq!(&n[..l], b"x@0");
    }
}
