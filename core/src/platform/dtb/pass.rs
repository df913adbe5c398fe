//! The one pass over the structure block: every check of the structure, and, on the way, what the
//! description needs, so that nothing walks the tree a second time.
//!
//! Checking first and describing after was two walks of every token (the check, then a walk
//! answering the description's questions, then a search for the console's path from the root):
//! 140k of the boot's 310k instructions on QEMU `virt`'s tree. Here each token is read once; a
//! node's `compatible`, `device_type` and `status` are noted as its properties pass and judged when
//! they end (at its first child or its end), and the first node answering each question is
//! remembered as the offsets of its path from the root. What needs more than those three
//! properties (a `reg` and the `ranges` above it, `/cpus`, `/chosen/bootargs`) is read afterwards
//! from the few remembered nodes (see `read_description` in the parent module).
//!
//! The console's node is named by a path (`/chosen/stdout-path`, or an alias) that is known only
//! once `/chosen` (and `/aliases`) have passed, and QEMU puts `/chosen` last. So the nodes before
//! that are remembered (offset and depth, a few hundred bytes) and searched when the path is
//! known, and later nodes are matched as they come; a tree with more nodes than that before its
//! `/chosen` is searched once more after the pass, by names only.

use super::node::{Blocks, Node, name_is, nul_in, word_at};
use super::{
    CPU_CHILDREN, DtbError, FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_NOP, FDT_PROP, Facts, MAX_DEPTH, PATH_MAX, Path,
    WANTED, alias, is_enabled, is_utf8, stdout_path,
};
use crate::platform::packed::{Packed, total_len};
use crate::platform::uart;

/// Nodes remembered before the console's path is known (QEMU `virt` has 56 with one CPU, 63 with
/// eight; board trees have hundreds, and most put `/chosen` first).
const TABLE: usize = 128;

/// Check the structure block `b.st` token by token (property names in `b.strings`) and gather
/// into `facts` what [`super::read_description`] reads. Returns the number of FDT_NOP tokens.
/// `nops_anywhere`: NOPs may stand anywhere (as libfdt leaves them); otherwise only after a
/// node's children.
pub(super) fn scan(b: Blocks, nops_anywhere: bool, facts: &mut Facts) -> Result<usize, DtbError> {
    let mut g = Gatherer::new(b, facts);
    // Two copies of the loop: tokens read as aligned words (the firmware's case) or as bytes.
    let nops = if b.words.is_empty() {
        tokens(Bytes(b.st), b.strings, nops_anywhere, &mut g)
    } else {
        tokens(Words(b.words), b.strings, nops_anywhere, &mut g)
    }?;
    g.finish();
    Ok(nops)
}

/// The structure block, read a 32-bit word at a time at offsets that are multiples of 4.
trait Read: Copy {
    /// The block is whole words: an offset rounded up to a word stays inside it.
    const WHOLE_WORDS: bool;
    /// The big-endian word at `off`, if all its bytes lie in the block.
    fn word(self, off: usize) -> Option<u32>;
    /// The two big-endian words at `off`, if all their bytes lie in the block.
    fn two(self, off: usize) -> Option<(u32, u32)>;
    /// The block's length in bytes.
    fn len(self) -> usize;
    /// The node name at `off`: its length, if a NUL ends it (the NUL may lie past the block:
    /// the caller checks), and whether its bytes are all ASCII (else it still needs the UTF-8
    /// check).
    fn name(self, off: usize) -> Option<(usize, bool)>;
}

/// The block as bytes (an unaligned blob, or a tool on the host).
#[derive(Clone, Copy)]
struct Bytes<'a>(&'a [u8]);

/// The block as aligned words in memory order (see [`word_at`]), covering it exactly.
#[derive(Clone, Copy)]
struct Words<'a>(&'a [u32]);

impl Read for Bytes<'_> {
    const WHOLE_WORDS: bool = false;
    #[inline(always)]
    fn word(self, off: usize) -> Option<u32> {
        word_at(self.0, &[], off)
    }
    #[inline(always)]
    fn two(self, off: usize) -> Option<(u32, u32)> {
        Some((self.word(off)?, self.word(off + 4)?))
    }
    #[inline(always)]
    fn len(self) -> usize {
        self.0.len()
    }
    #[inline(always)]
    fn name(self, off: usize) -> Option<(usize, bool)> {
        let n = self.0.get(off..)?.iter().position(|&b| b == 0)?;
        Some((n, self.0[off..off + n].is_ascii()))
    }
}

impl Read for Words<'_> {
    const WHOLE_WORDS: bool = true;
    #[inline(always)]
    fn word(self, off: usize) -> Option<u32> {
        self.0.get(off / 4).map(|&w| u32::from_be(w))
    }
    #[inline(always)]
    fn two(self, off: usize) -> Option<(u32, u32)> {
        match self.0.get(off / 4..off / 4 + 2)? {
            &[a, b] => Some((u32::from_be(a), u32::from_be(b))),
            _ => None,
        }
    }
    #[inline(always)]
    fn len(self) -> usize {
        self.0.len() * 4
    }
    /// Four bytes at a time: `(w - 0x0101_0101) & !w & 0x8080_8080` has its lowest set bit in the
    /// first zero byte of `w` (bytes in memory order from the least significant end, whatever the
    /// host's order), and the bytes before it are ASCII when none has its top bit set.
    #[inline(always)]
    fn name(self, off: usize) -> Option<(usize, bool)> {
        let first = off / 4;
        let mut high = 0u32;
        let mut i = first;
        loop {
            let w = u32::from_le(*self.0.get(i)?);
            let zero = w.wrapping_sub(0x0101_0101) & !w & 0x8080_8080;
            if zero != 0 {
                // The bytes below the first zero byte: (its bit >> 7) - 1.
                let below = ((zero & zero.wrapping_neg()) >> 7).wrapping_sub(1);
                high |= w & below;
                return Some(((i - first) * 4 + zero.trailing_zeros() as usize / 8, high & 0x8080_8080 == 0));
            }
            high |= w;
            i += 1;
        }
    }
}

/// The checks of [`scan`], token by token, telling `g` what passes.
fn tokens<R: Read>(r: R, strings: &[u8], nops_anywhere: bool, g: &mut Gatherer) -> Result<usize, DtbError> {
    let s_len = r.len();
    let mut p = 0usize;
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut nops = 0usize;
    // Within a node the spec orders properties, then child nodes (then NOPs, then the end); the
    // reading relies on it (and the `fdt` crate the payload uses asserts it), so the check
    // enforces that order: 0 = properties, 1 = children, 2 = trailing NOPs, for the open node.
    // A node's parent is always at 1 (the node is its child), so no stack of them is needed.
    let mut phase = 0u8;
    // Properties may come now: inside a node (depth > 0), before its children (phase 0).
    let mut props_ok = false;
    // Property names: when the strings block is all ASCII (every real tree), a name is good iff
    // a NUL ends it, that is iff it starts at or before the block's last NUL; checked once here
    // instead of scanning each property's name. Names below `good_below` are good.
    let ascii = strings.is_ascii();
    let good_below = if ascii { strings.iter().rposition(|&b| b == 0).map_or(0, |n| n + 1) } else { 0 };
    loop {
        let Some(tok) = r.word(p) else { return bad(p, "runs past the end without FDT_END") };
        let at = p;
        p += 4;
        match tok {
            FDT_PROP => {
                if !props_ok {
                    return bad(
                        at,
                        if depth == 0 { "property outside any node" } else { "property after a child node or FDT_NOP" },
                    );
                }
                let Some((len, nameoff)) = r.two(p) else {
                    return bad(at, "truncated property header");
                };
                p += 8;
                // p <= s_len: the header was read.
                if len as usize > s_len - p {
                    return bad(at, "property value runs past the structure block");
                }
                let end = p + len as usize;
                let off = nameoff as usize;
                if off >= good_below {
                    check_name(strings, off, ascii).or_else(|what| bad(at, what))?;
                }
                g.prop(nameoff, p, end);
                p = (end + 3) & !3;
                if !R::WHOLE_WORDS && p > s_len {
                    return bad(at, "runs past the structure block");
                }
            }
            FDT_BEGIN_NODE => {
                if depth == 0 && seen_root {
                    return bad(at, "second root node");
                }
                if depth > 0 && phase > 1 {
                    return bad(at, "node after FDT_NOP (not supported by the parser)");
                }
                seen_root = true;
                let n = match r.name(p) {
                    Some((n, ascii)) if p + n < s_len => {
                        if !ascii && !is_utf8(&g.b.st[p..p + n]) {
                            return bad(at, "node name is not UTF-8");
                        }
                        n
                    }
                    _ => return bad(at, "unterminated node name"),
                };
                p = (p + n + 1 + 3) & !3;
                depth += 1;
                if depth > MAX_DEPTH {
                    return bad(at, "nesting too deep");
                }
                phase = 0;
                props_ok = true;
                g.begin(depth, at, p);
                if !R::WHOLE_WORDS && p > s_len {
                    return bad(at, "runs past the structure block");
                }
            }
            FDT_END_NODE => {
                if depth == 0 {
                    return bad(at, "FDT_END_NODE without a node");
                }
                g.end(depth);
                depth -= 1;
                phase = 1;
                props_ok = false;
            }
            FDT_NOP if nops_anywhere => nops += 1,
            FDT_NOP => {
                nops += 1;
                phase = 2;
                props_ok = false;
            }
            FDT_END => {
                if depth != 0 || !seen_root {
                    return bad(at, "FDT_END inside a node");
                }
                return Ok(nops);
            }
            _ => return bad(at, "unknown token"),
        }
    }
}

/// A property name at `off` that is not below the strings block's last NUL (or a strings block
/// that is not ASCII): what is wrong with it, if anything.
#[cold]
#[inline(never)]
fn check_name(strings: &[u8], off: usize, ascii: bool) -> Result<usize, &'static str> {
    let name_len = strings.get(off..).and_then(|t| t.iter().position(|&b| b == 0));
    let Some(name_len) = name_len.filter(|_| !ascii) else { return Err("property name outside the strings block") };
    if !is_utf8(&strings[off..off + name_len]) {
        return Err("property name is not UTF-8");
    }
    Ok(name_len)
}

/// The structure block is malformed at `offset`: out of the loop's way (the messages' addresses
/// are not made ready on every token).
#[cold]
#[inline(never)]
fn bad(offset: usize, what: &'static str) -> Result<usize, DtbError> {
    Err(DtbError::BadStructure { offset, what })
}

/// The node whose properties are being read (below the root, at most [`PATH_MAX`] deep): its
/// level (0: none), where its properties start, and the three properties that decide which
/// questions it answers, as where their values start and end in the structure block. A value
/// before `props_at` is an earlier node's: this node has no such property (nothing is cleared
/// between nodes).
#[derive(Clone, Copy, Default)]
struct Pending {
    level: usize,
    props_at: u32,
    compatible: (u32, u32),
    device_type: (u32, u32),
    status: (u32, u32),
}

/// Where the search for the console's node stands.
enum Console<'a> {
    /// `/chosen` (or the alias it names) has not passed yet: nodes go into the table.
    Unknown,
    /// No path (or nothing it could name).
    None,
    /// Matching nodes as they come.
    Finding(Finder<'a>),
    /// The table overflowed before the path was known: search after the pass.
    AfterPass(Finder<'a>),
}

/// What the pass remembers besides [`Facts`].
struct Gatherer<'a, 'f> {
    b: Blocks<'a>,
    f: &'f mut Facts,
    /// Where the open nodes' properties start, root first (the path of a match).
    stack: [u32; PATH_MAX],
    cur: Pending,
    classes: Classes,
    /// The questions not answered yet, a bit each.
    unanswered: u32,
    /// The last `compatible` list that answered none of the questions open then (where it starts
    /// and ends, and those questions): devices repeat (QEMU has 32 virtio-mmio nodes), and a list
    /// equal to it answers none of them either.
    missed: (u32, u32, u32),
    console: Console<'a>,
    /// Nodes below the root (see [`LEVEL_SHIFT`]), in document order, until the path is known.
    table: [u32; TABLE],
    ntable: usize,
}

/// A table entry: where the node's FDT_BEGIN_NODE is (below [`super::MAX_SIZE`], 21 bits), its
/// level (4 bits) and its name's first byte (7 bits: a byte above 0x7F reads as another, which
/// only costs a comparison).
const LEVEL_SHIFT: u32 = 21;
const FIRST_SHIFT: u32 = 25;
const AT_MASK: u32 = (1 << LEVEL_SHIFT) - 1;

/// The questions that only an enabled node answers, a bit each.
const ENABLED_ONLY: u32 = {
    let (mut m, mut q) = (0, 0);
    while q < WANTED.len() {
        if WANTED[q].enabled {
            m |= 1 << q;
        }
        q += 1;
    }
    m
};

impl<'a, 'f> Gatherer<'a, 'f> {
    fn new(b: Blocks<'a>, f: &'f mut Facts) -> Self {
        Gatherer {
            b,
            f,
            stack: [0; PATH_MAX],
            cur: Pending::default(),
            classes: Classes { slots: [u32::MAX; CLASS_SLOTS] },
            unanswered: (1 << WANTED.len()) - 1,
            missed: (0, 0, 0),
            console: Console::Unknown,
            table: [0; TABLE],
            ntable: 0,
        }
    }

    /// A node opens at `level` (root = 1) with its FDT_BEGIN_NODE at `at`, its properties at
    /// `props_at`.
    fn begin(&mut self, level: usize, at: usize, props_at: usize) {
        // A child follows its parent's properties: the parent is complete.
        if self.cur.level != 0 {
            self.judge();
        }
        if level > PATH_MAX {
            // Deeper than hypfw looks.
            return;
        }
        let props32 = props_at as u32;
        self.stack[level - 1] = props32;
        if level == 1 {
            self.f.root = props32;
            return;
        }
        (self.cur.level, self.cur.props_at) = (level, props32);
        if level == 2 {
            let name = self.b.st.get(at + 4..).unwrap_or_default();
            let slot = match name.first() {
                Some(b'c') if is_base(name, b"cpus") => Some(&mut self.f.cpus),
                Some(b'c') if is_base(name, b"chosen") => Some(&mut self.f.chosen),
                Some(b'r') if is_base(name, b"reserved-memory") => Some(&mut self.f.reserved_memory),
                Some(b'a') if is_base(name, b"aliases") => Some(&mut self.f.aliases),
                _ => None,
            };
            if let Some(slot) = slot {
                slot.get_or_insert(props32);
            }
        } else if level == 3 && self.f.cpus == Some(self.stack[1]) {
            // A child of /cpus (more than can be kept: `read_cpus` walks them).
            match self.f.cpu_children.get_mut(self.f.ncpu_children) {
                Some(slot) => *slot = props32,
                None => self.f.ncpu_children = CPU_CHILDREN,
            }
            self.f.ncpu_children += 1;
        }
        self.remember(level, at as u32);
    }

    /// A node at `level` below the root, for the console's search.
    #[inline(always)]
    fn remember(&mut self, level: usize, at: u32) {
        if let Console::Unknown = self.console {
            match self.table.get_mut(self.ntable) {
                Some(e) => {
                    let first = self.b.st.get(at as usize + 4).map_or(0, |&c| c as u32 & 0x7F);
                    *e = at | (level as u32) << LEVEL_SHIFT | first << FIRST_SHIFT;
                    self.ntable += 1;
                }
                None => self.ntable = TABLE + 1,
            }
        } else if let Console::Finding(f) = &mut self.console {
            f.node(self.b, level, at);
        }
    }

    /// A property of the current node: its name at `nameoff` in the strings block (checked to
    /// lie inside it), its value at `at..end` in the structure block (checked too).
    #[inline(always)]
    fn prop(&mut self, nameoff: u32, at: usize, end: usize) {
        if self.cur.level == 0 {
            return;
        }
        let value = (at as u32, end as u32);
        match self.classes.of(nameoff, self.b.strings) {
            COMPATIBLE => self.cur.compatible = value,
            DEVICE_TYPE => self.cur.device_type = value,
            STATUS => self.cur.status = value,
            _ => {}
        }
    }

    /// The node at `level` ends.
    fn end(&mut self, level: usize) {
        if self.cur.level != 0 {
            self.judge();
        }
        if level == 2 && matches!(self.console, Console::Unknown) {
            let at = Some(self.stack[1]);
            if at == self.f.chosen || at == self.f.aliases {
                self.console_path(false);
            }
        }
    }

    /// The current node's properties are complete: which questions it answers.
    #[inline(always)]
    fn judge(&mut self) {
        let cur = self.cur;
        self.cur.level = 0;
        let has = |(at, _): (u32, u32)| at >= cur.props_at;
        let enabled = !has(cur.status) || self.enabled(cur.status);
        // The questions this node can still answer (some only when it is enabled).
        let open = if enabled { self.unanswered } else { self.unanswered & !ENABLED_ONLY };
        if has(cur.compatible) && open != 0 {
            self.judge_compatible(cur.compatible, open, cur.level);
        }
        if cur.level == 2 && enabled && has(cur.device_type) {
            self.judge_memory(cur.device_type);
        }
    }

    /// Whether the `status` value at `at..end` says the node is in use.
    #[inline(never)]
    fn enabled(&self, (at, end): (u32, u32)) -> bool {
        is_enabled(self.b.st.get(at as usize..end as usize))
    }

    /// The questions open for a node whose `compatible` list is at `at..end`: that list is
    /// compared unless it equals the last one that answered none of them.
    #[inline(never)]
    fn judge_compatible(&mut self, (at, end): (u32, u32), open: u32, level: usize) {
        let (m_at, m_end, m_open) = self.missed;
        if (open & !m_open != 0 || !self.same_bytes(at, end, m_at, m_end))
            && self.match_compatible(at as usize, end as usize, open, level)
        {
            self.missed = (at, end, open);
        }
    }

    /// An enabled node directly under the root whose `device_type` is at `at..end`: memory?
    #[inline(never)]
    fn judge_memory(&mut self, (at, end): (u32, u32)) {
        if self.b.st.get(at as usize..end as usize).is_some_and(|d| d.starts_with(b"memory")) {
            if let Some(slot) = self.f.memory.get_mut(self.f.nmemory) {
                *slot = self.stack[1];
            }
            // Counted past the slots too: read_ram reports what it could not keep.
            self.f.nmemory += 1;
        }
    }

    /// Whether the values at `at..end` and `b_at..b_end` of the structure block hold the same
    /// bytes (through the word view: the same words, padding included, which only ever says
    /// "not the same" more often).
    fn same_bytes(&self, at: u32, end: u32, b_at: u32, b_end: u32) -> bool {
        let (at, end, b_at, b_end) = (at as usize, end as usize, b_at as usize, b_end as usize);
        if end - at != b_end - b_at {
            return false;
        }
        if self.b.words.is_empty() {
            return self.b.st.get(at..end) == self.b.st.get(b_at..b_end);
        }
        // Both start at a word.
        let (x, y, words) = (at / 4, b_at / 4, self.b.words);
        (0..(end - at).div_ceil(4)).all(|k| words.get(x + k) == words.get(y + k))
    }

    /// Each string of the `compatible` list at `at..end` asked of the `open` questions, in
    /// order; a string is compared only with the wanted ones of its length (see [`BY_LEN`]).
    /// Whether it answered none.
    fn match_compatible(&mut self, at: usize, end: usize, mut open: u32, level: usize) -> bool {
        let none = open;
        let st = self.b.st;
        let mut start = at;
        while start < end {
            let nul = nul_in(st, self.b.words, start, end);
            if let Some(q) = wanted_index(st.get(start..nul).unwrap_or_default(), open) {
                self.f.matches[q] = Some(Path { at: self.stack, len: level });
                self.unanswered &= !(1 << q);
                open &= !(1 << q);
                if open == 0 {
                    return false;
                }
            }
            start = nul + 1;
        }
        open == none
    }

    /// Decide the console's path if it can be known now (`at_end`: it can), and search the nodes
    /// remembered so far.
    fn console_path(&mut self, at_end: bool) {
        let node = |at: Option<u32>| at.map(|a| Node::with_props_at(self.b, a as usize));
        let (chosen, aliases) = (node(self.f.chosen), node(self.f.aliases));
        // An absolute stdout-path is known now; a relative one, or none (the serial0 alias),
        // waits for /aliases.
        let absolute = stdout_path(chosen, None);
        if !at_end && (chosen.is_none() || aliases.is_none() && absolute.is_none()) {
            return;
        }
        let path = absolute.or_else(|| stdout_path(chosen, aliases)).or_else(|| alias(aliases, "serial0"));
        let Some(path) = path else {
            self.console = Console::None;
            return;
        };
        let mut finder = Finder::new(path.as_bytes(), self.f.root);
        if self.ntable > TABLE {
            self.console = Console::AfterPass(finder);
            return;
        }
        for &e in &self.table[..self.ntable] {
            let level = (e >> LEVEL_SHIFT) as usize & 15;
            if !finder.going() {
                break;
            }
            if finder.may_take(level, e >> FIRST_SHIFT) {
                finder.node(self.b, level, e & AT_MASK);
            }
        }
        self.console = Console::Finding(finder);
    }

    /// The structure block ended well.
    fn finish(mut self) {
        if matches!(self.console, Console::Unknown) {
            self.console_path(true);
        }
        self.f.console = match self.console {
            Console::Finding(f) => f.found(),
            Console::AfterPass(mut f) => {
                f.walk(self.b);
                f.found()
            }
            Console::Unknown | Console::None => None,
        };
    }
}

/// The question (among the `open` ones, a bit each) whose compatible strings hold `s`.
#[inline(always)]
fn wanted_index(s: &[u8], open: u32) -> Option<usize> {
    let (from, to) = (*BY_LEN_START.get(s.len())? as usize, *BY_LEN_START.get(s.len() + 1)? as usize);
    let first = *s.first()?;
    (from..to)
        .find(|&k| {
            BY_LEN_QUESTION.get(k).is_some_and(|&q| open & 1 << q != 0)
                && wanted_name(k).is_some_and(|x| x.first() == Some(&first) && x == s)
        })
        .map(|k| BY_LEN_QUESTION[k] as usize)
}

/// The string of [`BY_LEN`] entry `k`: a UART's from `uart`'s table, another from
/// [`OTHER_WANTED_NAMES`] (each string is kept once, packed: `platform::packed`).
#[inline(always)]
fn wanted_name(k: usize) -> Option<&'static [u8]> {
    let id = *BY_LEN_ID.get(k)? as usize;
    if id < uart::ALL.len() { uart::name_bytes(id) } else { OTHER_WANTED_NAMES.get(id - uart::ALL.len()) }
}

/// How many compatible strings the questions have.
const N_WANTED_STRINGS: usize = {
    let (mut n, mut q) = (0, 0);
    while q < WANTED.len() {
        n += WANTED[q].compatible.len();
        q += 1;
    }
    n
};

/// The questions' strings that are not UARTs' (the first question's are `uart`'s table).
const N_OTHER: usize = N_WANTED_STRINGS - uart::ALL.len();
const OTHER_WANTED: [&str; N_OTHER] = {
    assert!(WANTED[0].compatible.len() == uart::ALL.len(), "the first question is the UART table");
    let mut out = [""; N_OTHER];
    let (mut q, mut n) = (1, 0);
    while q < WANTED.len() {
        let mut i = 0;
        while i < WANTED[q].compatible.len() {
            out[n] = WANTED[q].compatible[i];
            n += 1;
            i += 1;
        }
        q += 1;
    }
    out
};
static OTHER_WANTED_NAMES: Packed<N_OTHER, { total_len(&OTHER_WANTED) }> = Packed::new(OTHER_WANTED);

/// Longest compatible string a question may have, plus one.
const MAX_WANTED_LEN: usize = 64;

/// Every question's compatible strings, shortest first: each as its id (an index into `uart`'s
/// table, or past it into [`OTHER_WANTED`]) with its question, and where those of each length start:
/// entries `.2[n] as usize..(.2[n + 1] as usize)` are the strings of `n` bytes. Most strings of a
/// tree are ruled out by their length and first byte alone. Only the compiler reads this: the
/// firmware keeps the three byte arrays below.
#[allow(clippy::type_complexity)] // a constant built once
const BY_LEN: ([u8; N_WANTED_STRINGS], [u8; N_WANTED_STRINGS], [u8; MAX_WANTED_LEN + 1]) = {
    let mut start = [0u8; MAX_WANTED_LEN + 1];
    let mut q = 0;
    while q < WANTED.len() {
        let mut i = 0;
        while i < WANTED[q].compatible.len() {
            let n = WANTED[q].compatible[i].len();
            assert!(n > 0 && n < MAX_WANTED_LEN);
            start[n + 1] += 1;
            i += 1;
        }
        q += 1;
    }
    let mut n = 1;
    while n <= MAX_WANTED_LEN {
        start[n] += start[n - 1];
        n += 1;
    }
    let (mut ids, mut questions) = ([0u8; N_WANTED_STRINGS], [0u8; N_WANTED_STRINGS]);
    let mut next = start;
    let mut id = 0;
    q = 0;
    while q < WANTED.len() {
        let mut i = 0;
        while i < WANTED[q].compatible.len() {
            let len = WANTED[q].compatible[i].len();
            (ids[next[len] as usize], questions[next[len] as usize]) = (id as u8, q as u8);
            next[len] += 1;
            id += 1;
            i += 1;
        }
        q += 1;
    }
    (ids, questions, start)
};

static BY_LEN_ID: [u8; N_WANTED_STRINGS] = BY_LEN.0;
static BY_LEN_QUESTION: [u8; N_WANTED_STRINGS] = BY_LEN.1;
static BY_LEN_START: [u8; MAX_WANTED_LEN + 1] = BY_LEN.2;

/// Property names by their offset in the strings block: a small direct-mapped memory of
/// `offset << 2 | class` (dtc stores each name once, so a tree's few dozen names are compared
/// once each; an offset is below [`super::MAX_SIZE`], so the shift loses nothing).
struct Classes {
    slots: [u32; CLASS_SLOTS],
}

const CLASS_SLOTS: usize = 64;
const COMPATIBLE: u32 = 0;
const DEVICE_TYPE: u32 = 1;
const STATUS: u32 = 2;
const OTHER: u32 = 3;

impl Classes {
    #[inline(always)]
    fn of(&mut self, off: u32, strings: &[u8]) -> u32 {
        let slot = &mut self.slots[off as usize % CLASS_SLOTS];
        if *slot >> 2 == off {
            return *slot & 3;
        }
        let name = strings.get(off as usize..).unwrap_or_default();
        let class = if name_is(name, b"compatible") {
            COMPATIBLE
        } else if name_is(name, b"device_type") {
            DEVICE_TYPE
        } else if name_is(name, b"status") {
            STATUS
        } else {
            OTHER
        };
        *slot = off << 2 | class;
        class
    }
}

/// Whether the node name at the start of `name` (which runs on past its NUL) is `base`, with or
/// without a unit address.
fn is_base(name: &[u8], base: &[u8]) -> bool {
    name.get(..base.len()) == Some(base) && matches!(name.get(base.len()), Some(0 | b'@'))
}

/// The search for the node an absolute path names ("/soc/serial@1c28000"), fed the nodes below
/// the root in document order: at each level the first child whose name is the component (or,
/// for a component without a unit address, whose name before its `@` is) is taken, and the search
/// fails if that child's subtree does not hold the rest (no second candidate is tried).
struct Finder<'p> {
    /// The component wanted next, and those after it (leading `/` included).
    comp: &'p [u8],
    rest: &'p [u8],
    /// What ends a name that is `comp`: its NUL, or also an `@` (a component without a unit
    /// address names a node whatever its unit address).
    unit: bool,
    /// The nodes matched so far, the root first.
    path: Path,
    state: Search,
}

#[derive(PartialEq, Eq)]
enum Search {
    Going,
    Found,
    Failed,
}

impl<'p> Finder<'p> {
    fn new(path: &'p [u8], root: u32) -> Self {
        let mut f = Finder {
            comp: &[],
            rest: path,
            unit: false,
            path: Path { at: [0; PATH_MAX], len: 1 },
            state: Search::Going,
        };
        f.path.at[0] = root;
        f.next_component();
        f
    }

    /// Take the next component from `rest`; none left: found. A component holding a NUL names
    /// nothing (a name ends at its first NUL).
    fn next_component(&mut self) {
        let start = self.rest.iter().position(|&c| c != b'/').unwrap_or(self.rest.len());
        let rest = &self.rest[start..];
        let len = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
        (self.comp, self.rest) = rest.split_at(len);
        self.unit = !self.comp.contains(&b'@');
        if self.comp.is_empty() {
            self.state = Search::Found;
        } else if self.comp.contains(&0) {
            self.state = Search::Failed;
        }
    }

    /// Whether it is still looking.
    fn going(&self) -> bool {
        self.state == Search::Going
    }

    /// Whether a node at `level` whose name starts with `first` (7 bits) may change the search:
    /// one at or above the last match ends it, one a level below may be the next component.
    #[inline(always)]
    fn may_take(&self, level: usize, first: u32) -> bool {
        let matched = self.path.len;
        level <= matched || level == matched + 1 && self.comp.first().is_none_or(|&c| c as u32 & 0x7F == first)
    }

    /// The node at `level` (below the root) with its FDT_BEGIN_NODE at `at`.
    fn node(&mut self, b: Blocks, level: usize, at: u32) {
        if self.state != Search::Going {
            return;
        }
        let matched = self.path.len;
        if level <= matched {
            // The node whose child was wanted has ended.
            self.state = Search::Failed;
            return;
        }
        if level != matched + 1 {
            return;
        }
        let (comp, name) = (self.comp, b.st.get(at as usize + 4..).unwrap_or_default());
        let named = name.first() == comp.first()
            && name.get(..comp.len()) == Some(comp)
            && match name.get(comp.len()) {
                Some(0) => true,
                Some(b'@') => self.unit,
                _ => false,
            };
        if !named {
            return;
        }
        if matched == PATH_MAX {
            self.state = Search::Failed;
            return;
        }
        let Some(n) = b.node_at(at as usize) else { return };
        self.path.at[matched] = n.props_at() as u32;
        self.path.len += 1;
        self.next_component();
    }

    /// Feed it the whole (valid) tree, by names only, until it is done.
    fn walk(&mut self, b: Blocks) {
        let (mut off, mut level) = (0usize, 0usize);
        while self.going() {
            match b.tok(off) {
                Some(FDT_BEGIN_NODE) => {
                    let Some(n) = b.node_at(off) else { return };
                    level += 1;
                    if level > 1 {
                        self.node(b, level, off as u32);
                    }
                    off = n.props_at();
                }
                Some(FDT_PROP) => match b.skip_prop(off) {
                    Some(next) => off = next,
                    None => return,
                },
                Some(FDT_NOP) => off += 4,
                Some(FDT_END_NODE) => {
                    level = level.saturating_sub(1);
                    off += 4;
                }
                _ => return,
            }
        }
    }

    fn found(&self) -> Option<Path> {
        (self.state == Search::Found).then_some(self.path)
    }
}
