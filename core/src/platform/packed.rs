//! A table of strings packed into one byte array, with each string's end: plain bytes, where a
//! table of `&str` is a pointer and a length per string. In the firmware that matters twice: a
//! pointer is a word the boot relocates (at the load address and again in the resident copy),
//! and the table's words lie in the read-only data that stays resident. The compatible tables
//! the device-tree pass searches are built this way at compile time.

/// `N` strings, `B` bytes in all.
pub struct Packed<const N: usize, const B: usize> {
    bytes: [u8; B],
    ends: [u16; N],
}

/// The bytes of `strs` together (the `B` of their [`Packed`]).
pub const fn total_len(strs: &[&str]) -> usize {
    let (mut n, mut i) = (0, 0);
    while i < strs.len() {
        n += strs[i].len();
        i += 1;
    }
    n
}

/// The strings of a (string, value) table, in its order (to pack them).
pub const fn keys<T: Copy, const N: usize>(table: &[(&'static str, T); N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = table[i].0;
        i += 1;
    }
    out
}

/// The values of a (string, value) table, in its order (`N` > 0).
pub const fn values<T: Copy, const N: usize>(table: &[(&'static str, T); N]) -> [T; N] {
    let mut out = [table[0].1; N];
    let mut i = 0;
    while i < N {
        out[i] = table[i].1;
        i += 1;
    }
    out
}

impl<const N: usize, const B: usize> Packed<N, B> {
    /// Pack `strs` (their bytes must total `B`, under 64 KiB).
    pub const fn new(strs: [&str; N]) -> Self {
        assert!(B < u16::MAX as usize);
        let (mut bytes, mut ends) = ([0u8; B], [0u16; N]);
        let (mut at, mut i) = (0, 0);
        while i < N {
            let s = strs[i].as_bytes();
            let mut j = 0;
            while j < s.len() {
                bytes[at] = s[j];
                at += 1;
                j += 1;
            }
            ends[i] = at as u16;
            i += 1;
        }
        assert!(at == B, "B is the strings' total length");
        Packed { bytes, ends }
    }

    /// String `i`, None past the last.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let start = match i {
            0 => 0,
            _ => *self.ends.get(i - 1)? as usize,
        };
        self.bytes.get(start..*self.ends.get(i)? as usize)
    }

    /// String `i` as text (None past the last, or if it is not UTF-8: built from `&str`s, it is).
    pub fn text(&self, i: usize) -> Option<&str> {
        core::str::from_utf8(self.get(i)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_keep_the_order() {
        const T: [(&str, u8); 2] = [("a", 1), ("bc", 2)];
        assert_eq!(keys(&T), ["a", "bc"]);
        assert_eq!(values(&T), [1, 2]);
    }

    #[test]
    fn strings_come_back_whole() {
        const S: [&str; 3] = ["arm,pl011", "", "ns16550a"];
        static P: Packed<3, { total_len(&S) }> = Packed::new(S);
        assert_eq!(P.get(0), Some(&b"arm,pl011"[..]));
        assert_eq!(P.get(1), Some(&b""[..]));
        assert_eq!(P.text(2), Some("ns16550a"));
        assert_eq!(P.get(3), None);
    }
}
