//! The reader hypfw had before [`super::pass`], kept for the host as the reference the one pass
//! is compared with (the host tests, and `cargo xtask fuzz --target dtb` on every input): the
//! structure checked first, token by token; then a walk answering the description's questions;
//! then a search from the root for the node the console's path names. For every blob both must
//! give the same description, or the same error. It reads bytes only (the pass's word view is
//! compared with the pass's own byte reading), and shares with the pass what follows the walk
//! ([`super::read_description`]).

use super::node::{Blocks, Node, Prop, word_at};
use super::{
    Description, DtbError, FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_NOP, FDT_PROP, Facts, MAX_DEPTH,
    MAX_MEMORY_NODES, PATH_MAX, Path, WANTED, Wanted, alias, check_header, check_reservations, is_enabled, is_utf8,
    node, read_description, stdout_path,
};

/// As [`super::validate`] (`nops_anywhere`: as [`super::validate_allowing_nops`]), also returning
/// how many FDT_NOP tokens the structure block holds.
pub fn validate_counting(blob: &[u8], nops_anywhere: bool) -> Result<(usize, usize), DtbError> {
    let h = check_header(blob)?;
    check_reservations(blob, &h)?;
    let s = &blob[h.off_struct..h.off_struct + h.size_struct];
    let strings = &blob[h.off_strings..h.off_strings + h.size_strings];
    let nops = check_structure(s, &[], strings, nops_anywhere)?;
    Ok((h.total, nops))
}

/// As [`super::describe`].
pub fn describe(blob: &[u8]) -> Result<Description, DtbError> {
    validate_counting(blob, false)?;
    let h = check_header(blob)?;
    let st = &blob[h.off_struct..h.off_struct + h.size_struct];
    let b = Blocks { st, words: &[], strings: &blob[h.off_strings..h.off_strings + h.size_strings] };
    let root = b.root().ok_or(DtbError::Parse)?;
    let found = walk(b, root, WANTED);
    let mut facts = Facts {
        root: root.props_at() as u32,
        matches: found.matches.map(|m| m.map(|np| np.offsets())),
        cpus: found.cpus.map(|n| n.props_at() as u32),
        chosen: found.chosen.map(|n| n.props_at() as u32),
        reserved_memory: found.reserved_memory.map(|n| n.props_at() as u32),
        aliases: found.aliases.map(|n| n.props_at() as u32),
        ..Facts::default()
    };
    for c in found.cpus.into_iter().flat_map(|c| c.children()) {
        if let Some(slot) = facts.cpu_children.get_mut(facts.ncpu_children) {
            *slot = c.props_at() as u32;
        }
        facts.ncpu_children += 1;
    }
    for (slot, m) in facts.memory.iter_mut().zip(found.memory.iter().flatten()) {
        *slot = m.props_at() as u32;
    }
    facts.nmemory = found.nmemory;
    let path = stdout_path(found.chosen, found.aliases).or_else(|| alias(found.aliases, "serial0"));
    facts.console = path.and_then(|path| find_path(root, path)).map(|np| np.offsets());
    read_description(b, blob, &facts)
}

/// The structure block `s`, token by token, with property names in `strings`. Returns the
/// number of FDT_NOP tokens.
fn check_structure(s: &[u8], words: &[u32], strings: &[u8], nops_anywhere: bool) -> Result<usize, DtbError> {
    let bad = |offset, what| Err(DtbError::BadStructure { offset, what });
    let mut p = 0usize;
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut nops = 0usize;
    // Within a node the spec orders properties, then child nodes (then NOPs, then the end); the
    // reader in `node` relies on it (and the `fdt` crate the payload uses asserts it), so the
    // check enforces that order: 0 = properties, 1 = children,
    // 2 = trailing NOPs, per open node.
    let mut phase = [0u8; MAX_DEPTH + 1];
    // Property names: when the strings block is all ASCII (every real tree), a name is good iff
    // a NUL ends it, that is iff it starts at or before the block's last NUL; checked once here
    // instead of scanning each property's name.
    let ascii_until = strings.is_ascii().then(|| strings.iter().rposition(|&b| b == 0)).flatten();
    loop {
        let Some(tok) = word_at(s, words, p) else { return bad(p, "runs past the end without FDT_END") };
        let at = p;
        p += 4;
        match tok {
            FDT_BEGIN_NODE => {
                if depth == 0 && seen_root {
                    return bad(at, "second root node");
                }
                if depth > 0 && phase[depth] > 1 {
                    return bad(at, "node after FDT_NOP (not supported by the parser)");
                }
                phase[depth] = 1;
                seen_root = true;
                let Some(n) = node::nul_at(s, words, p) else { return bad(at, "unterminated node name") };
                if !is_utf8(&s[p..p + n]) {
                    return bad(at, "node name is not UTF-8");
                }
                p = (p + n + 1 + 3) & !3;
                depth += 1;
                if depth > MAX_DEPTH {
                    return bad(at, "nesting too deep");
                }
                phase[depth] = 0;
            }
            FDT_END_NODE => {
                if depth == 0 {
                    return bad(at, "FDT_END_NODE without a node");
                }
                depth -= 1;
            }
            FDT_PROP => {
                if depth == 0 {
                    return bad(at, "property outside any node");
                }
                if phase[depth] != 0 {
                    return bad(at, "property after a child node or FDT_NOP");
                }
                let (Some(len), Some(nameoff)) = (word_at(s, words, p), word_at(s, words, p + 4)) else {
                    return bad(at, "truncated property header");
                };
                let (len, nameoff) = (len as usize, nameoff as usize);
                p += 8;
                if p.checked_add(len).is_none_or(|e| e > s.len()) {
                    return bad(at, "property value runs past the structure block");
                }
                match ascii_until {
                    Some(last_nul) if nameoff <= last_nul => {}
                    Some(_) => return bad(at, "property name outside the strings block"),
                    None => {
                        let Some(name_len) = strings.get(nameoff..).and_then(|t| t.iter().position(|&b| b == 0)) else {
                            return bad(at, "property name outside the strings block");
                        };
                        if !is_utf8(&strings[nameoff..nameoff + name_len]) {
                            return bad(at, "property name is not UTF-8");
                        }
                    }
                }
                p = (p + len + 3) & !3;
            }
            FDT_NOP if nops_anywhere => nops += 1,
            FDT_NOP => {
                nops += 1;
                phase[depth] = 2;
            }
            FDT_END => {
                if depth != 0 || !seen_root {
                    return bad(at, "FDT_END inside a node");
                }
                return Ok(nops);
            }
            _ => return bad(at, "unknown token"),
        }
        if p > s.len() {
            return bad(at, "runs past the structure block");
        }
    }
}

/// The path from the root to a node: ancestors first.
#[derive(Clone, Copy)]
struct NodePath<'a> {
    nodes: [Option<Node<'a>>; PATH_MAX],
    len: usize,
}

impl<'a> NodePath<'a> {
    fn last(&self) -> Node<'a> {
        self.nodes[self.len - 1].unwrap()
    }

    /// As the one pass remembers a path: where its nodes' properties start.
    fn offsets(&self) -> Path {
        let mut p = Path { at: [0; PATH_MAX], len: self.len };
        for (a, n) in p.at.iter_mut().zip(&self.nodes[..self.len]) {
            *a = n.unwrap().props_at() as u32;
        }
        p
    }
}

/// Find a node by absolute path ("/soc/serial@1c28000"), keeping its ancestors.
fn find_path<'a>(root: Node<'a>, path: &str) -> Option<NodePath<'a>> {
    let mut np = NodePath { nodes: [None; PATH_MAX], len: 1 };
    np.nodes[0] = Some(root);
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        let cur = np.last();
        let (comp, has_unit) = (comp.as_bytes(), comp.contains('@'));
        let next = cur.children().find(|c| c.name == comp || (!has_unit && c.base_name() == comp))?;
        if np.len == PATH_MAX {
            return None;
        }
        np.nodes[np.len] = Some(next);
        np.len += 1;
    }
    Some(np)
}

/// What one walk over the tree finds.
struct Found<'a, const N: usize> {
    /// For each `Wanted`, the path of the first node (in document order) that matches.
    matches: [Option<NodePath<'a>>; N],
    /// Enabled `device_type = "memory"` nodes directly under the root.
    memory: [Option<Node<'a>>; MAX_MEMORY_NODES],
    /// All of them, past the slots too.
    nmemory: usize,
    cpus: Option<Node<'a>>,
    chosen: Option<Node<'a>>,
    reserved_memory: Option<Node<'a>>,
    aliases: Option<Node<'a>>,
}

/// One pass over the structure block's tokens, in document order, that answers every question
/// `describe` has: each node's properties are read once (compatible, device_type and status
/// together), and no search walks the tree again.
fn walk<'a, const N: usize>(b: Blocks<'a>, root: Node<'a>, wanted: [Wanted; N]) -> Found<'a, N> {
    let mut f = Found {
        matches: [const { None }; N],
        memory: [None; MAX_MEMORY_NODES],
        nmemory: 0,
        cpus: None,
        chosen: None,
        reserved_memory: None,
        aliases: None,
    };
    // Which string lengths each question's compatibles have: most of a tree's compatible strings
    // are ruled out by their length alone, before any comparison.
    let lens = wanted.each_ref().map(|w| w.compatible.iter().fold(0, |m, x| m | len_bit(x.len())));
    let mut names = Names::new(["compatible", "device_type", "status"]);
    let mut np = NodePath { nodes: [None; PATH_MAX], len: 1 };
    np.nodes[0] = Some(root);
    let mut off = root.props_at();
    while np.len > 0 {
        match word_at(b.st, b.words, off) {
            Some(FDT_BEGIN_NODE) => {
                let Some(n) = b.node_at(off) else { break };
                if np.len == PATH_MAX {
                    // Deeper than hypfw looks: skip the subtree.
                    let Some(end) = b.end_of(n.props_at()) else { break };
                    off = end;
                    continue;
                }
                np.nodes[np.len] = Some(n);
                np.len += 1;
                visit(&np, &wanted, &lens, &mut f, &mut names);
                off = n.props_at();
            }
            Some(FDT_PROP) => match b.skip_prop(off) {
                Some(next) => off = next,
                None => break,
            },
            Some(FDT_NOP) => off += 4,
            Some(FDT_END_NODE) => {
                np.len -= 1;
                off += 4;
            }
            _ => break,
        }
    }
    f
}

/// What one node (below the root) answers.
fn visit<'a, const N: usize>(
    np: &NodePath<'a>,
    wanted: &[Wanted; N],
    lens: &[u64; N],
    f: &mut Found<'a, N>,
    names: &mut Names<3>,
) {
    let cur = np.last();
    let [compatible, device_type, status] = props_by(cur, names);
    let enabled = is_enabled(status);
    // The compatible list is split once, each string asked of every question still open (a
    // split per question was a fifth of reading the tree).
    let open = |m: &Option<NodePath>, w: &Wanted| m.is_none() && (!w.enabled || enabled);
    if let Some(c) = compatible
        && f.matches.iter().zip(wanted).any(|(m, w)| open(m, w))
    {
        for s in c.split(|&b| b == 0) {
            let bit = len_bit(s.len());
            for ((w, m), &lens) in wanted.iter().zip(f.matches.iter_mut()).zip(lens) {
                if lens & bit != 0 && open(m, w) && w.compatible.iter().any(|x| x.as_bytes() == s) {
                    *m = Some(*np);
                }
            }
        }
    }
    if np.len == 2 {
        if enabled && device_type.is_some_and(|d| d.starts_with(b"memory")) {
            if let Some(slot) = f.memory.iter_mut().find(|m| m.is_none()) {
                *slot = Some(cur);
            }
            f.nmemory += 1;
        }
        match cur.base_name() {
            b"cpus" if f.cpus.is_none() => f.cpus = Some(cur),
            b"chosen" if f.chosen.is_none() => f.chosen = Some(cur),
            b"reserved-memory" if f.reserved_memory.is_none() => f.reserved_memory = Some(cur),
            b"aliases" if f.aliases.is_none() => f.aliases = Some(cur),
            _ => {}
        }
    }
}

/// A bit for a string length (63 and longer share one).
fn len_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// [`props`] with the names' offsets remembered across nodes (`walk` reads every node's).
pub(super) fn props_by<'a, const N: usize>(node: Node<'a>, names: &mut Names<N>) -> [Option<&'a [u8]>; N] {
    let mut out = [None; N];
    for p in node.properties() {
        if let Some(i) = names.which(&p) {
            out[i] = Some(p.value);
        }
    }
    out
}

/// Which of N property names a property has, answered by its name offset once that offset has
/// been compared: the name at an offset of the strings block never changes, so an offset found
/// to hold name `i` (`hit`), or none of the names (`miss`, a small direct-mapped memory), answers
/// every later property with that offset without reading the strings (dtc stores each name once,
/// so a tree's few dozen names are compared once each instead of once per property).
pub(super) struct Names<'n, const N: usize> {
    names: [&'n str; N],
    /// For each name, the last offset found to hold it.
    hit: [u32; N],
    /// Offsets found to hold none of the names, at `offset % MISS_SLOTS`.
    miss: [u32; MISS_SLOTS],
}

const MISS_SLOTS: usize = 32;
/// No offset yet (a property with this name offset is compared every time).
const NO_OFFSET: u32 = u32::MAX;

impl<'n, const N: usize> Names<'n, N> {
    pub(super) fn new(names: [&'n str; N]) -> Self {
        Names { names, hit: [NO_OFFSET; N], miss: [NO_OFFSET; MISS_SLOTS] }
    }

    /// The index of `p`'s name among the names (the first, if some are equal), as
    /// `names.iter().position(|n| name_is(p.names, n))` answers it.
    pub(super) fn which(&mut self, p: &Prop) -> Option<usize> {
        self.which_at(p.nameoff, || p.names)
    }

    /// [`Names::which`] for the name at offset `off` of the strings block; `names` gives the
    /// block from there on, asked only when the offset is new.
    #[inline(always)]
    fn which_at<'s>(&mut self, off: u32, names: impl FnOnce() -> &'s [u8]) -> Option<usize> {
        let is = |n: &str, names: &[u8]| node::name_is(names, n.as_bytes());
        if off == NO_OFFSET {
            let names = names();
            return self.names.iter().position(|&n| is(n, names));
        }
        if let Some(i) = self.hit.iter().position(|&h| h == off) {
            return Some(i);
        }
        let slot = off as usize % MISS_SLOTS;
        if self.miss[slot] == off {
            return None;
        }
        let names = names();
        let found = self.names.iter().position(|&n| is(n, names));
        match found {
            Some(i) => self.hit[i] = off,
            None => self.miss[slot] = off,
        }
        found
    }
}
