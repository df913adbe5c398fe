//! A flattened device tree written node by node: the FIT images and test trees the host side
//! builds (`cargo xtask pack --fit`, the rewrite's tests). Host only.

use std::vec::Vec;

use crate::platform::dtb::{
    FDT_BEGIN_NODE as BEGIN_NODE, FDT_END as END, FDT_END_NODE as END_NODE, FDT_MAGIC, FDT_NOP as NOP,
    FDT_PROP as PROP, HEADER_LEN,
};

/// Builds one tree: `node`/`prop`/`end` in document order, then `finish`.
#[derive(Default)]
pub struct Builder {
    st: Vec<u8>,
    strings: Vec<u8>,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }
    fn word(&mut self, v: u32) -> &mut Self {
        self.st.extend(v.to_be_bytes());
        self
    }
    fn pad(&mut self) {
        while !self.st.len().is_multiple_of(4) {
            self.st.push(0);
        }
    }
    /// Open a node (the root is "").
    pub fn node(&mut self, name: &str) -> &mut Self {
        self.word(BEGIN_NODE);
        self.st.extend(name.as_bytes());
        self.st.push(0);
        self.pad();
        self
    }
    /// Close the node opened last.
    pub fn end(&mut self) -> &mut Self {
        self.word(END_NODE)
    }
    /// An `FDT_NOP` token, as libfdt leaves them.
    pub fn nop(&mut self) -> &mut Self {
        self.word(NOP)
    }
    /// A property with a raw value.
    pub fn prop(&mut self, name: &str, v: &[u8]) -> &mut Self {
        let off = self.name_offset(name);
        self.word(PROP).word(v.len() as u32).word(off as u32);
        self.st.extend(v);
        self.pad();
        self
    }
    /// A string property.
    pub fn prop_str(&mut self, name: &str, v: &str) -> &mut Self {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        self.prop(name, &b)
    }
    /// A one-cell property.
    pub fn prop_u32(&mut self, name: &str, v: u32) -> &mut Self {
        self.prop(name, &v.to_be_bytes())
    }
    fn name_offset(&mut self, name: &str) -> usize {
        let mut off = 0;
        for piece in self.strings.split(|&b| b == 0) {
            if piece == name.as_bytes() && off < self.strings.len() {
                return off;
            }
            off += piece.len() + 1;
        }
        let o = self.strings.len();
        self.strings.extend(name.as_bytes());
        self.strings.push(0);
        o
    }
    /// The blob: header, an empty reservation map, the structure and strings blocks.
    pub fn finish(&mut self) -> Vec<u8> {
        self.word(END);
        let rsv = HEADER_LEN.next_multiple_of(8);
        let off_st = rsv + 16;
        let off_str = off_st + self.st.len();
        let total = off_str + self.strings.len();
        let mut b = std::vec![0u8; total];
        let header = [
            FDT_MAGIC,
            total as u32,
            off_st as u32,
            off_str as u32,
            rsv as u32,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.st.len() as u32,
        ];
        for (i, v) in header.iter().enumerate() {
            b[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
        }
        b[off_st..off_str].copy_from_slice(&self.st);
        b[off_str..].copy_from_slice(&self.strings);
        b
    }
}
