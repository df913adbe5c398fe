//! The pack's checksum: two 32-bit sums over the data as little-endian words, in 32-byte blocks
//! (the last one zero-padded): `a` adds every word, `b` adds `a` after each block.
//!
//! Why not CRC-32 (the pack's check up to version 2): hypfw verifies the payload with the MMU and
//! caches off, and CRC-32 cost 6 instructions per byte there (42 M for a 7 MB Linux pack, seconds
//! of uncached accesses on a board). These sums are computed inside the copy hypfw makes anyway,
//! at well under one instruction per byte (`arch::armv7::mem::copy_sum`). What they catch: any
//! change confined to one word changes `a` (a non-zero difference modulo 2^32), so every
//! single-bit, single-byte and single-word error is detected; `b` weights each block by its
//! distance from the end, so moved or swapped blocks change it. They are not a defence against a
//! deliberate forger, and CRC-32 is not either: authenticity is the bootloader's job (a FIT
//! signature, secure boot).

/// Bytes per block.
pub const BLOCK: usize = 32;

/// The running sums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sum {
    pub a: u32,
    pub b: u32,
}

impl Sum {
    /// Add one block of eight words.
    pub fn block(&mut self, words: [u32; 8]) {
        for w in words {
            self.a = self.a.wrapping_add(w);
        }
        self.b = self.b.wrapping_add(self.a);
    }

    /// Add `data`: whole blocks, then the rest zero-padded to a block. Only the last call for a
    /// blob may end with a partial block.
    pub fn bytes(mut self, data: &[u8]) -> Self {
        for chunk in data.chunks(BLOCK) {
            let mut blk = [0u8; BLOCK];
            blk[..chunk.len()].copy_from_slice(chunk);
            self.block(core::array::from_fn(|i| {
                u32::from_le_bytes([blk[4 * i], blk[4 * i + 1], blk[4 * i + 2], blk[4 * i + 3]])
            }));
        }
        self
    }
}

/// The sums of `data`.
pub fn sum(data: &[u8]) -> Sum {
    Sum::default().bytes(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(sum(&[]), Sum { a: 0, b: 0 });
        // One block: a = 1 + 2 (LE words), b = a.
        let mut d = [0u8; 32];
        d[0] = 1;
        d[4] = 2;
        assert_eq!(sum(&d), Sum { a: 3, b: 3 });
        // Two blocks: b = a1 + (a1 + a2).
        let mut d2 = [0u8; 64];
        d2[0] = 1;
        d2[32] = 5;
        assert_eq!(sum(&d2), Sum { a: 6, b: 1 + 6 });
        // A partial block is zero-padded.
        assert_eq!(sum(&[7, 0, 0]), Sum { a: 7, b: 7 });
    }

    #[test]
    fn swapped_blocks_are_detected() {
        let d: std::vec::Vec<u8> = (0..96).collect();
        let mut s = d.clone();
        s[..32].copy_from_slice(&d[32..64]);
        s[32..64].copy_from_slice(&d[..32]);
        assert_ne!(sum(&d), sum(&s));
    }

    proptest! {
        /// Whole blocks first and the rest after is the same as all at once (how the firmware
        /// composes its assembly loop and the tail).
        #[test]
        fn blocks_then_tail_compose(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let cut = data.len() / BLOCK * BLOCK;
            prop_assert_eq!(sum(&data[..cut]).bytes(&data[cut..]), sum(&data));
        }

        /// Any change within one word is detected.
        #[test]
        fn one_word_damage_is_detected(
            data in proptest::collection::vec(any::<u8>(), 4..300),
            at in any::<prop::sample::Index>(),
            x in 1u32..,
        ) {
            let w = at.index(data.len() / 4) * 4;
            let mut d = data.clone();
            let v = u32::from_le_bytes([d[w], d[w + 1], d[w + 2], d[w + 3]]) ^ x;
            d[w..w + 4].copy_from_slice(&v.to_le_bytes());
            prop_assert_ne!(sum(&d), sum(&data));
        }
    }
}
