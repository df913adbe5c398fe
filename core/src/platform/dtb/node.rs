//! Nodes and properties of a validated flattened tree, read straight from the structure block.
//!
//! Written here instead of using the `fdt` crate for reading: `fdt` re-parses a node's properties
//! (with a UTF-8 check of every name) on each lookup and walks the tree again for each search,
//! which made reading the tree the largest part of hypfw's boot (about 290k of 877k instructions
//! in the boot trace of `cargo xtask bench`). The tree is read in one pass over the tokens
//! ([`super::pass`]); these types are the views the lookups after it use. Every access is
//! bounds-checked, so a tree that passed [`super::validate`] cannot make them panic, and one that
//! did not only reads as shorter.

use super::{FDT_BEGIN_NODE, FDT_END_NODE, FDT_NOP, FDT_PROP, be32};

/// The big-endian word at byte offset `off` (a multiple of 4) of the structure block `st`,
/// through `words` when that view of the same bytes is given (non-empty). Every token, length and
/// name offset sits at a multiple of 4 from the block's start, so where the block lies 4-byte
/// aligned in memory (the firmware's case, which makes the view) each is one aligned word load;
/// the target has strict alignment, so a `u32` read from a byte slice is four byte loads and
/// shifts, which was most of the cost of reading a tree. Host tools and an unaligned blob pass no
/// view and are read byte by byte.
#[inline(always)]
pub fn word_at(st: &[u8], words: &[u32], off: usize) -> Option<u32> {
    if words.is_empty() { be32(st, off) } else { words.get(off / 4).map(|&x| u32::from_be(x)) }
}

/// Where the first NUL byte of `st[from..]` lies, counted from `from` (a multiple of 4: a node
/// name's start), as `st[from..].iter().position(|&b| b == 0)` answers it. Through the word view
/// (see [`word_at`]) four bytes are tested at a time: `(w - 0x0101_0101) & !w & 0x8080_8080` has
/// its lowest set bit in the first zero byte of `w` (bytes in memory order from the least
/// significant end, whatever the host's order), and a zero found past `st`'s end is none. A view
/// that does not cover `st` (or none) is not used.
#[inline(always)]
pub fn nul_at(st: &[u8], words: &[u32], from: usize) -> Option<usize> {
    if words.len() * 4 < st.len() || !from.is_multiple_of(4) {
        return st.get(from..)?.iter().position(|&b| b == 0);
    }
    let first = from / 4;
    let rel = words.get(first..)?.iter().position(|&w| {
        let w = u32::from_le(w);
        w.wrapping_sub(0x0101_0101) & !w & 0x8080_8080 != 0
    })?;
    let w = u32::from_le(words[first + rel]);
    let z = (w.wrapping_sub(0x0101_0101) & !w & 0x8080_8080).trailing_zeros() as usize / 8;
    let at = rel * 4 + z;
    (from + at < st.len()).then_some(at)
}

/// Where the first NUL byte of `st[from..to]` lies (an offset in `st`), or `to` if none: through
/// the word view (see [`word_at`]) four bytes at a time, as in [`nul_at`] (the bytes before
/// `from` in its word made non-zero). The view, if any, covers `st`.
#[inline(always)]
pub fn nul_in(st: &[u8], words: &[u32], from: usize, to: usize) -> usize {
    if words.is_empty() {
        return st.get(from..to).and_then(|t| t.iter().position(|&b| b == 0)).map_or(to, |n| from + n);
    }
    let mut i = from / 4;
    let Some(&w) = words.get(i) else { return to };
    let mut w = u32::from_le(w) | ((1u32 << (8 * (from % 4))) - 1);
    loop {
        let zero = w.wrapping_sub(0x0101_0101) & !w & 0x8080_8080;
        if zero != 0 {
            return (i * 4 + zero.trailing_zeros() as usize / 8).min(to);
        }
        i += 1;
        match words.get(i) {
            Some(&n) if i * 4 < to => w = u32::from_le(n),
            _ => return to,
        }
    }
}

/// A node's properties in order, as (name offset, value), up to the first token that is neither
/// a property nor a NOP (as [`Node::properties`], without making a [`Prop`] of each).
pub(super) struct Props<'a> {
    b: Blocks<'a>,
    off: usize,
}

impl<'a> Iterator for Props<'a> {
    type Item = (usize, &'a [u8]);

    #[inline(always)]
    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        loop {
            match self.b.tok(self.off)? {
                FDT_NOP => self.off += 4,
                FDT_PROP => {
                    let len = self.b.tok(self.off + 4)? as usize;
                    let start = self.off + 12;
                    let value = self.b.st.get(start..start.checked_add(len)?)?;
                    let nameoff = self.b.tok(self.off + 8)? as usize;
                    self.off = align4(start + len);
                    return Some((nameoff, value));
                }
                _ => return None,
            }
        }
    }
}

/// The two blocks a node's bytes live in, and the structure block's words.
#[derive(Clone, Copy)]
pub(super) struct Blocks<'a> {
    pub st: &'a [u8],
    /// The same bytes as `st`, as words, or empty (see [`word_at`]).
    pub words: &'a [u32],
    pub strings: &'a [u8],
}

/// A node: its name (with any unit address) and where its properties start.
#[derive(Clone, Copy)]
pub(super) struct Node<'a> {
    b: Blocks<'a>,
    props_at: usize,
    #[cfg_attr(not(any(test, feature = "std")), allow(dead_code))] // the reference reader's
    pub name: &'a [u8],
}

/// A property: its value, and its name in the strings block (compared in place: finding each
/// name's end first was most of the cost of reading a tree).
#[cfg(any(test, feature = "std"))] // the reference reader's
#[derive(Clone, Copy)]
pub(super) struct Prop<'a> {
    /// The strings block from the name on.
    pub names: &'a [u8],
    /// Where the name lies in the strings block: equal offsets, equal names.
    pub nameoff: u32,
    pub value: &'a [u8],
}

/// Whether the NUL-terminated name at the start of `names` is `name` (a non-empty name). The
/// terminator and the first byte rule out almost every other name before a comparison is called.
#[inline(always)]
pub fn name_is(names: &[u8], name: &[u8]) -> bool {
    names.get(name.len()) == Some(&0) && names.first() == name.first() && names.get(..name.len()) == Some(name)
}

const fn align4(x: usize) -> usize {
    (x + 3) & !3
}

impl<'a> Blocks<'a> {
    #[inline(always)]
    pub fn tok(&self, off: usize) -> Option<u32> {
        word_at(self.st, self.words, off)
    }

    /// The node whose FDT_BEGIN_NODE token is at `off`.
    pub fn node_at(self, off: usize) -> Option<Node<'a>> {
        if self.tok(off)? != FDT_BEGIN_NODE {
            return None;
        }
        let len = nul_at(self.st, self.words, off + 4)?;
        let name = self.st.get(off + 4..off + 4 + len)?;
        Some(Node { b: self, props_at: align4(off + 4 + len + 1), name })
    }

    /// The root: the first node token, NOPs skipped.
    #[cfg(any(test, feature = "std"))] // the reference reader's
    pub fn root(self) -> Option<Node<'a>> {
        let mut off = 0;
        while self.tok(off)? == FDT_NOP {
            off += 4;
        }
        self.node_at(off)
    }

    /// The property whose FDT_PROP token is at `off`, and the offset after it.
    #[cfg(any(test, feature = "std"))] // the reference reader's
    pub fn prop_at(self, off: usize) -> Option<(Prop<'a>, usize)> {
        let len = self.tok(off + 4)? as usize;
        let value = self.st.get(off + 12..(off + 12).checked_add(len)?)?;
        let nameoff = self.tok(off + 8)?;
        let names = self.strings.get(nameoff as usize..)?;
        Some((Prop { names, nameoff, value }, align4(off + 12 + len)))
    }

    /// The offset after the property whose FDT_PROP token is at `off`.
    pub fn skip_prop(self, off: usize) -> Option<usize> {
        let len = self.tok(off + 4)? as usize;
        let end = (off + 12).checked_add(len)?;
        (end <= self.st.len()).then_some(align4(end))
    }

    /// The offset just past the FDT_END_NODE that closes the node whose properties start at
    /// `from` (a subtree skipped in one scan).
    pub fn end_of(self, from: usize) -> Option<usize> {
        let (mut off, mut depth) = (from, 1usize);
        loop {
            match self.tok(off)? {
                FDT_BEGIN_NODE => {
                    let n = self.node_at(off)?;
                    depth += 1;
                    off = n.props_at;
                }
                FDT_PROP => off = self.skip_prop(off)?,
                FDT_NOP => off += 4,
                FDT_END_NODE => {
                    off += 4;
                    depth -= 1;
                    if depth == 0 {
                        return Some(off);
                    }
                }
                _ => return None,
            }
        }
    }
}

impl<'a> Node<'a> {
    /// The node whose properties start at `props_at` (a valid tree's), for reading them: its
    /// name is not known (empty).
    pub fn with_props_at(b: Blocks<'a>, props_at: usize) -> Self {
        Node { b, props_at, name: &[] }
    }

    /// The blocks it lies in.
    pub fn blocks(&self) -> Blocks<'a> {
        self.b
    }

    /// Where this node's properties start (its tokens follow, for a linear walk).
    pub fn props_at(&self) -> usize {
        self.props_at
    }

    /// The properties, in order.
    #[cfg(any(test, feature = "std"))] // the reference reader's
    pub fn properties(&self) -> impl Iterator<Item = Prop<'a>> + use<'a> {
        let (b, mut off) = (self.b, self.props_at);
        core::iter::from_fn(move || {
            loop {
                match b.tok(off)? {
                    FDT_NOP => off += 4,
                    FDT_PROP => {
                        let (p, next) = b.prop_at(off)?;
                        off = next;
                        return Some(p);
                    }
                    _ => return None,
                }
            }
        })
    }

    /// The value of the (first) property called `name`.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        let strings = self.b.strings;
        let name = name.as_bytes();
        self.props().find(|&(off, _)| strings.get(off..).is_some_and(|n| name_is(n, name))).map(|(_, v)| v)
    }

    /// The values of the last property called each of `names`, read in one look at the
    /// properties (the first of `names` a property's name is, if some are equal).
    pub fn get_last<const N: usize>(&self, names: [&str; N]) -> [Option<&'a [u8]>; N] {
        let strings = self.b.strings;
        let mut out = [None; N];
        for (off, value) in self.props() {
            let Some(n) = strings.get(off..) else { continue };
            if let Some(i) = names.iter().position(|name| name_is(n, name.as_bytes())) {
                out[i] = Some(value);
            }
        }
        out
    }

    /// The properties as (name offset, value).
    fn props(&self) -> Props<'a> {
        Props { b: self.b, off: self.props_at }
    }

    /// The direct children, in order (each child's subtree is skipped in one scan).
    pub fn children(&self) -> impl Iterator<Item = Node<'a>> + use<'a> {
        let b = self.b;
        // Past the properties first.
        let mut off = Some(self.props_at);
        core::iter::from_fn(move || {
            let mut o = off?;
            loop {
                match b.tok(o) {
                    Some(FDT_NOP) => o += 4,
                    Some(FDT_PROP) => match b.skip_prop(o) {
                        Some(next) => o = next,
                        None => break,
                    },
                    Some(FDT_BEGIN_NODE) => {
                        let child = b.node_at(o);
                        off = child.and_then(|c| b.end_of(c.props_at));
                        return child;
                    }
                    _ => break,
                }
            }
            off = None;
            None
        })
    }

    /// The name without its unit address.
    #[cfg(any(test, feature = "std"))] // the reference reader's
    pub fn base_name(&self) -> &'a [u8] {
        self.name.split(|&c| c == b'@').next().unwrap_or(self.name)
    }
}
