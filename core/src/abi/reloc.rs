//! hypfw's own relocation table.
//!
//! Why not a PIE: the toolchain's precompiled `libcore` is built for the static relocation model
//! and loads addresses with MOVW/MOVT pairs, which no dynamic relocation type can fix. So the image
//! is linked statically at `LINK_BASE` with `--emit-relocs`, and `cargo xtask build` turns the
//! absolute relocations the linker reports into this table, stored in the image's
//! `.hypfw_relocs` section:
//!
//! ```text
//! word 0   MAGIC
//! word 1   n_abs   number of 32-bit words that hold an absolute address (R_ARM_ABS32)
//! word 2   n_movt  number of MOVT instructions whose imm16 is the high half of an address
//! then     n_abs offsets, then n_movt offsets (from the image start)
//! ```
//!
//! Relocating by a bias that is a multiple of 64 KiB leaves every low half unchanged, so the MOVW
//! halves need no fixing and each MOVT is fixed on its own: imm16 += bias >> 16. The entry code
//! therefore first moves the image to a 64 KiB-aligned address if it was loaded elsewhere.

pub const MAGIC: u32 = 0x4352_4C48; // "HLRC"
/// Relocation bias granule: a bias must be a multiple of this.
pub const GRANULE: u32 = 0x1_0000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelocError {
    /// The table was never filled in: the image did not go through `cargo xtask build`.
    Missing,
    /// The table does not fit its section.
    Truncated,
    /// An entry points outside the image or is misaligned.
    OutOfImage { offset: u32 },
    /// An entry marked MOVT is not a MOVT instruction.
    NotMovt { offset: u32, insn: u32 },
    /// The bias is not a multiple of 64 KiB.
    BadBias(u32),
    /// A list of offsets given to [`encode`] is not strictly ascending.
    Unsorted,
}

impl core::fmt::Display for RelocError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            RelocError::Missing => write!(f, "the image has no relocation table; build it with `cargo xtask build`"),
            RelocError::Truncated => write!(f, "the relocation table is larger than its section"),
            RelocError::OutOfImage { offset } => write!(f, "relocation at {offset:#x} lies outside the image"),
            RelocError::NotMovt { offset, insn } => {
                write!(f, "relocation at {offset:#x} expects a MOVT, found {insn:#010x}")
            }
            RelocError::BadBias(b) => write!(f, "relocation bias {b:#x} is not a multiple of 64 KiB"),
            RelocError::Unsorted => write!(f, "relocation offsets are not in ascending order"),
        }
    }
}

/// A parsed view of the table.
pub struct Table<'a> {
    pub abs: &'a [u32],
    pub movt: &'a [u32],
}

impl<'a> Table<'a> {
    /// The entries at or above image offset `from`: both lists are strictly ascending, as
    /// [`encode`] writes them.
    pub fn from_offset(&self, from: u32) -> Table<'a> {
        Table {
            abs: &self.abs[self.abs.partition_point(|&o| o < from)..],
            movt: &self.movt[self.movt.partition_point(|&o| o < from)..],
        }
    }
}

/// Parse the table words.
pub fn parse(words: &[u32]) -> Result<Table<'_>, RelocError> {
    if words.first() != Some(&MAGIC) {
        return Err(RelocError::Missing);
    }
    let (n_abs, n_movt) = match (words.get(1), words.get(2)) {
        (Some(&a), Some(&m)) => (a as usize, m as usize),
        _ => return Err(RelocError::Truncated),
    };
    let end = 3usize.checked_add(n_abs).and_then(|v| v.checked_add(n_movt)).ok_or(RelocError::Truncated)?;
    if end > words.len() {
        return Err(RelocError::Truncated);
    }
    Ok(Table { abs: &words[3..3 + n_abs], movt: &words[3 + n_abs..end] })
}

/// Is `insn` an A32 MOVT (any condition, any register)?
pub fn is_movt(insn: u32) -> bool {
    insn & 0x0FF0_0000 == 0x0340_0000
}

/// Add `bias` to the high half-word immediate of a MOVT.
pub fn movt_add(insn: u32, bias: u32) -> u32 {
    let imm = ((insn >> 4) & 0xF000) | (insn & 0xFFF);
    let new = imm.wrapping_add(bias >> 16) & 0xFFFF;
    (insn & 0xFFF0_F000) | ((new & 0xF000) << 4) | (new & 0xFFF)
}

fn word(image: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(image[at..at + 4].try_into().unwrap_or([0; 4]))
}

/// Relocate `image` (whose words currently hold addresses for some base B) for base B + `bias`.
/// The absolute words' offsets are checked first; then the absolute words are patched, and each
/// MOVT entry is checked and patched in one step (a word listed in both is patched as an address,
/// then checked and patched as a MOVT); a bad MOVT entry undoes everything done, so on error
/// the image is untouched.
pub fn apply(image: &mut [u8], table: &Table, bias: u32) -> Result<usize, RelocError> {
    apply_offsets(image, table.abs.iter().copied(), table.movt.iter().copied(), bias)
}

/// As [`apply`], for an image held as words (little-endian, as the target stores them): one
/// load and one store per entry, where byte access costs four of each on a target with strict
/// alignment. Every entry is read once, checked and patched together (a check pass of their own
/// was a third of the boot's relocation cost); a bad entry undoes what was patched, so on error
/// the image is left as it was, as with [`apply`].
///
/// `image` holds the image from byte offset `from` on (a multiple of 4): pass
/// `table.from_offset(from)`; an entry below `from` is out of the image.
pub fn apply_words(image: &mut [u32], from: u32, table: &Table, bias: u32) -> Result<usize, RelocError> {
    if !bias.is_multiple_of(GRANULE) {
        return Err(RelocError::BadBias(bias));
    }
    // One lookup per entry: `from` is a multiple of 4, so the word index is the offset less
    // `from`, rotated right by two. An offset that is not word aligned rotates its low bits to
    // the top (an index of at least 2^30, past any slice of words the address space can hold),
    // and one below `from` wraps: either way `get_mut` refuses it.
    let at = |o: u32| o.wrapping_sub(from).rotate_right(2) as usize;
    for (k, &o) in table.abs.iter().enumerate() {
        match image.get_mut(at(o)) {
            Some(w) => *w = u32::from_le(*w).wrapping_add(bias).to_le(),
            None => {
                // Undo what this loop patched: the image is left as it was.
                for &p in table.abs[..k].iter().rev() {
                    if let Some(w) = image.get_mut(at(p)) {
                        *w = u32::from_le(*w).wrapping_sub(bias).to_le();
                    }
                }
                return Err(RelocError::OutOfImage { offset: o });
            }
        }
    }
    let delta = bias >> 16;
    for (k, &o) in table.movt.iter().enumerate() {
        let err = match image.get_mut(at(o)) {
            None => RelocError::OutOfImage { offset: o },
            Some(w) => {
                let insn = u32::from_le(*w);
                if is_movt(insn) {
                    *w = movt_add_high(insn, delta).to_le();
                    continue;
                }
                RelocError::NotMovt { offset: o, insn }
            }
        };
        // Undo: the MOVTs patched so far, then every absolute word (a word in both lists was
        // patched as an address first, so it is restored in the other order).
        let back = delta.wrapping_neg() & 0xFFFF;
        for &o in table.movt[..k].iter().rev() {
            if let Some(w) = image.get_mut(at(o)) {
                *w = movt_add_high(u32::from_le(*w), back).to_le();
            }
        }
        for &o in table.abs.iter().rev() {
            if let Some(w) = image.get_mut(at(o)) {
                *w = u32::from_le(*w).wrapping_sub(bias).to_le();
            }
        }
        return Err(err);
    }
    Ok(table.abs.len() + table.movt.len())
}

/// [`movt_add`] with the high half of the bias already taken (`delta` < 2^16).
#[inline(always)]
fn movt_add_high(insn: u32, delta: u32) -> u32 {
    let imm = ((insn >> 4) & 0xF000) | (insn & 0xFFF);
    let new = imm.wrapping_add(delta);
    (insn & 0xFFF0_F000) | ((new & 0xF000) << 4) | (new & 0xFFF)
}

/// As [`apply`], with the table as little-endian bytes (a payload's table inside a pack, which
/// need not be word aligned in memory).
pub fn apply_le(image: &mut [u8], table: &[u8], bias: u32) -> Result<usize, RelocError> {
    let w = |i: usize| table.get(4 * i..4 * i + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    if w(0) != Some(MAGIC) {
        return Err(RelocError::Missing);
    }
    let (Some(n_abs), Some(n_movt)) = (w(1), w(2)) else { return Err(RelocError::Truncated) };
    let (n_abs, n_movt) = (n_abs as usize, n_movt as usize);
    let end = 3usize.checked_add(n_abs).and_then(|v| v.checked_add(n_movt)).ok_or(RelocError::Truncated)?;
    if end.checked_mul(4).is_none_or(|e| e > table.len()) {
        return Err(RelocError::Truncated);
    }
    let offs = |from: usize, n: usize| (from..from + n).map(move |i| w(i).unwrap_or(u32::MAX));
    apply_offsets(image, offs(3, n_abs), offs(3 + n_abs, n_movt), bias)
}

fn apply_offsets(
    image: &mut [u8],
    abs: impl Iterator<Item = u32> + Clone,
    movt: impl Iterator<Item = u32> + Clone,
    bias: u32,
) -> Result<usize, RelocError> {
    if !bias.is_multiple_of(GRANULE) {
        return Err(RelocError::BadBias(bias));
    }
    let len = image.len();
    let ok =
        |o: u32| (o.is_multiple_of(4) && (o as usize).checked_add(4).is_some_and(|e| e <= len)).then_some(o as usize);
    for o in abs.clone() {
        ok(o).ok_or(RelocError::OutOfImage { offset: o })?;
    }
    let put = |image: &mut [u8], at: usize, v: u32| image[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let mut n = 0;
    for o in abs.clone() {
        let at = o as usize;
        put(image, at, word(image, at).wrapping_add(bias));
        n += 1;
    }
    for (k, o) in movt.clone().enumerate() {
        let err = match ok(o) {
            None => RelocError::OutOfImage { offset: o },
            Some(at) => {
                let insn = word(image, at);
                if is_movt(insn) {
                    put(image, at, movt_add(insn, bias));
                    n += 1;
                    continue;
                }
                RelocError::NotMovt { offset: o, insn }
            }
        };
        // Undo: the MOVTs patched so far, then every absolute word (a word in both lists was
        // patched as an address first, so it is restored in the other order).
        for o in movt.take(k) {
            let at = o as usize;
            put(image, at, movt_add(word(image, at), bias.wrapping_neg()));
        }
        for o in abs {
            let at = o as usize;
            put(image, at, word(image, at).wrapping_sub(bias));
        }
        return Err(err);
    }
    Ok(n)
}

/// Encode a table (used by `cargo xtask build`).
pub fn encode(abs: &[u32], movt: &[u32], out: &mut [u8]) -> Result<usize, RelocError> {
    if !(abs.is_sorted_by(|a, b| a < b) && movt.is_sorted_by(|a, b| a < b)) {
        return Err(RelocError::Unsorted);
    }
    let words = 3 + abs.len() + movt.len();
    if words * 4 > out.len() {
        return Err(RelocError::Truncated);
    }
    let all =
        [MAGIC, abs.len() as u32, movt.len() as u32].into_iter().chain(abs.iter().copied()).chain(movt.iter().copied());
    for (i, w) in all.enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    Ok(words * 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// movw r0, #0x1234 ; movt r0, #0x4001 (A32 encodings, ARM DDI 0406C A8.8.106/A8.8.102)
    const MOVW_R0: u32 = 0xE301_0234;
    const MOVT_R0_4001: u32 = 0xE344_0001;

    proptest! {
        /// The word form patches exactly what the byte form patches, and refuses what it refuses.
        #[test]
        fn word_form_matches_byte_form(
            words in proptest::collection::vec(any::<u32>(), 1..64),
            abs in proptest::collection::vec(prop_oneof![(0u32..64).prop_map(|i| 4 * i), 0u32..300], 0..8),
            movt in proptest::collection::vec(prop_oneof![(0u32..64).prop_map(|i| 4 * i), 0u32..300], 0..8),
            bias_granules in 0u32..0x1_0000,
        ) {
            let mut words = words;
            for &o in &movt {
                if let Some(w) = words.get_mut(o as usize / 4) {
                    *w = MOVT_R0_4001; // some entries are MOVTs, some are not
                }
            }
            let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            let mut as_words: Vec<u32> = words.iter().map(|w| w.to_le()).collect();
            let t = Table { abs: &abs, movt: &movt };
            let bias = bias_granules.wrapping_mul(GRANULE);
            let before = bytes.clone();
            let a = apply(&mut bytes, &t, bias);
            let b = apply_words(&mut as_words, 0, &t, bias);
            prop_assert_eq!(a, b);
            let back: Vec<u8> = as_words.iter().flat_map(|w| u32::from_le(*w).to_le_bytes()).collect();
            if a.is_err() {
                prop_assert_eq!(&bytes, &before, "a refused table leaves the image as it was");
            }
            prop_assert_eq!(bytes, back);
        }
    }

    proptest! {
        /// On tables whose every entry is good (where the refusals above rarely let a random
        /// table through), the word form relocates exactly as the byte form.
        #[test]
        fn word_form_relocates_like_byte_form(
            words in proptest::collection::vec(any::<u32>(), 1..64),
            abs in proptest::collection::vec(any::<prop::sample::Index>(), 0..16),
            movt in proptest::collection::vec(any::<prop::sample::Index>(), 0..16),
            bias_granules in 0u32..0x1_0000,
        ) {
            let mut words = words;
            let abs: Vec<u32> = abs.iter().map(|i| 4 * i.index(words.len()) as u32).collect();
            let movt: Vec<u32> = movt.iter().map(|i| 4 * i.index(words.len()) as u32).collect();
            for &o in &movt {
                let w = &mut words[o as usize / 4];
                *w = 0x0340_0000 | (*w & 0xF00F_FFFF); // a MOVT with a random immediate
            }
            let abs: Vec<u32> = abs.into_iter().filter(|o| !movt.contains(o)).collect();
            let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            let mut as_words: Vec<u32> = words.iter().map(|w| w.to_le()).collect();
            let t = Table { abs: &abs, movt: &movt };
            let bias = bias_granules.wrapping_mul(GRANULE);
            prop_assert_eq!(apply(&mut bytes, &t, bias), Ok(abs.len() + movt.len()));
            prop_assert_eq!(apply_words(&mut as_words, 0, &t, bias), Ok(abs.len() + movt.len()));
            let back: Vec<u8> = as_words.iter().flat_map(|w| u32::from_le(*w).to_le_bytes()).collect();
            prop_assert_eq!(bytes, back);
        }
    }

    proptest! {
        /// Relocating only the image's tail from offset `from` (the resident copy leaves the
        /// boot-only text out) patches the tail exactly as relocating the whole image does.
        #[test]
        fn a_tail_relocates_like_the_whole(
            words in proptest::collection::vec(any::<u32>(), 1..64),
            entries in proptest::collection::btree_set(0u32..64, 0..24),
            split in any::<prop::sample::Index>(),
            from_word in any::<prop::sample::Index>(),
            bias_granules in 0u32..0x1_0000,
        ) {
            let mut words = words;
            let entries: Vec<u32> = entries.into_iter().filter(|&i| (i as usize) < words.len()).map(|i| 4 * i).collect();
            let (abs, movt) = entries.split_at(split.index(entries.len() + 1));
            for &o in movt {
                let w = &mut words[o as usize / 4];
                *w = 0x0340_0000 | (*w & 0xF00F_FFFF);
            }
            let (mut abs, mut movt) = (abs.to_vec(), movt.to_vec());
            abs.sort_unstable();
            movt.sort_unstable();
            let mut raw = vec![0u8; 4 * (3 + abs.len() + movt.len())];
            encode(&abs, &movt, &mut raw).unwrap();
            let table_words: Vec<u32> = raw.chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
            let t = parse(&table_words).unwrap();
            let bias = bias_granules.wrapping_mul(GRANULE);
            let from = 4 * from_word.index(words.len()) as u32;
            let mut whole = words.clone();
            prop_assert!(apply_words(&mut whole, 0, &t, bias).is_ok());
            let mut tail = words[from as usize / 4..].to_vec();
            let sub = t.from_offset(from);
            prop_assert_eq!(apply_words(&mut tail, from, &sub, bias), Ok(sub.abs.len() + sub.movt.len()));
            prop_assert_eq!(&tail[..], &whole[from as usize / 4..]);
            // The whole table on the tail alone: the entries below `from` are out of it.
            let mut tail2 = words[from as usize / 4..].to_vec();
            if sub.abs.len() + sub.movt.len() < abs.len() + movt.len() {
                let refused = matches!(apply_words(&mut tail2, from, &t, bias), Err(RelocError::OutOfImage { .. }));
                prop_assert!(refused);
                prop_assert_eq!(&tail2[..], &words[from as usize / 4..], "left as it was");
            }
        }
    }

    #[test]
    fn encode_wants_ascending_offsets() {
        let mut t = [0u8; 32];
        assert_eq!(encode(&[8, 4], &[], &mut t), Err(RelocError::Unsorted));
        assert_eq!(encode(&[], &[4, 4], &mut t), Err(RelocError::Unsorted));
        assert_eq!(encode(&[4, 8], &[0, 12], &mut t), Ok(28));
    }

    /// The byte form reads the same table as the word form, wherever it lies.
    #[test]
    fn byte_tables_apply_like_word_tables() {
        let mut img = Vec::new();
        img.extend_from_slice(&0x4200_0100u32.to_le_bytes());
        img.extend_from_slice(&MOVW_R0.to_le_bytes());
        img.extend_from_slice(&0xE344_0200u32.to_le_bytes()); // movt r0, #0x4200
        let mut bytes = vec![0u8; 1]; // misaligned on purpose
        let mut t = [0u8; 20];
        let n = encode(&[0], &[8], &mut t).unwrap();
        bytes.extend_from_slice(&t[..n]);
        let mut a = img.clone();
        assert_eq!(apply_le(&mut a, &bytes[1..], 0x4000_0000), Ok(2));
        assert_eq!(word(&a, 0), 0x8200_0100);
        assert_eq!(movt_add(0xE344_0200, 0x4000_0000), word(&a, 8));
        assert_eq!(apply_le(&mut img.clone(), &bytes[1..10], 0), Err(RelocError::Truncated));
        assert_eq!(apply_le(&mut img, &[0; 12], 0), Err(RelocError::Missing));
    }

    #[test]
    fn movt_immediate_is_rebased() {
        assert!(is_movt(MOVT_R0_4001));
        assert!(!is_movt(MOVW_R0));
        // 0x4001 + 0x8000 = 0xC001: imm4 = 0xC, imm12 = 0x001
        assert_eq!(movt_add(MOVT_R0_4001, 0x8000_0000), 0xE34C_0001);
        // wraps in 16 bits like the address does in 32
        assert_eq!(movt_add(0xE34F_0FFF, 0x0001_0000), 0xE340_0000);
    }

    #[test]
    fn applies_words_and_movts() {
        let mut img = Vec::new();
        img.extend_from_slice(&0x4001_0100u32.to_le_bytes());
        img.extend_from_slice(&MOVW_R0.to_le_bytes());
        img.extend_from_slice(&MOVT_R0_4001.to_le_bytes());
        let mut t = [0u8; 64];
        let n = encode(&[0], &[8], &mut t).unwrap();
        let words: Vec<u32> = t[..n].chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        let table = parse(&words).unwrap();
        assert_eq!(apply(&mut img, &table, 0x8000_0000), Ok(2));
        assert_eq!(word(&img, 0), 0xC001_0100);
        assert_eq!(word(&img, 4), MOVW_R0, "MOVW halves are never touched");
        assert_eq!(word(&img, 8), 0xE34C_0001);
    }

    #[test]
    fn errors_leave_the_image_alone() {
        let mut img = vec![0u8; 16];
        img[4..8].copy_from_slice(&MOVW_R0.to_le_bytes());
        let before = img.clone();
        assert_eq!(
            apply(&mut img, &Table { abs: &[0], movt: &[4] }, 0x1_0000),
            Err(RelocError::NotMovt { offset: 4, insn: MOVW_R0 })
        );
        assert_eq!(
            apply(&mut img, &Table { abs: &[16], movt: &[] }, 0x1_0000),
            Err(RelocError::OutOfImage { offset: 16 })
        );
        assert_eq!(apply(&mut img, &Table { abs: &[0], movt: &[] }, 0x1234), Err(RelocError::BadBias(0x1234)));
        assert_eq!(img, before);
        assert!(matches!(parse(&[0, 0, 0]), Err(RelocError::Missing)));
        assert!(matches!(parse(&[MAGIC, 5, 0, 1]), Err(RelocError::Truncated)));
    }

    proptest! {
        /// Relocating by a then by (b - a) equals relocating by b: what the boot CPU relies on
        /// when it moves the already-relocated image to the runtime VA. Also: every MOVW/MOVT
        /// pair still loads the relocated address.
        #[test]
        fn two_step_relocation_equals_direct(addrs in proptest::collection::vec(any::<u32>(), 1..32),
                                             a in any::<u16>(), b in any::<u16>()) {
            let (a, b) = ((a as u32) << 16, (b as u32) << 16);
            let mut img = Vec::new();
            let mut abs = Vec::new();
            let mut movt = Vec::new();
            for &v in &addrs {
                abs.push(img.len() as u32);
                img.extend_from_slice(&v.to_le_bytes());
                img.extend_from_slice(&(0xE300_0000 | ((v & 0xF000) << 4) | (v & 0xFFF)).to_le_bytes());
                movt.push(img.len() as u32);
                let hi = v >> 16;
                img.extend_from_slice(&(0xE340_0000 | ((hi & 0xF000) << 4) | (hi & 0xFFF)).to_le_bytes());
            }
            let t = Table { abs: &abs, movt: &movt };
            let mut direct = img.clone();
            apply(&mut direct, &t, b).unwrap();
            apply(&mut img, &t, a).unwrap();
            apply(&mut img, &t, b.wrapping_sub(a)).unwrap();
            prop_assert_eq!(&img, &direct);
            for (i, &v) in addrs.iter().enumerate() {
                let lo = word(&direct, i * 12 + 4);
                let hi = word(&direct, i * 12 + 8);
                let imm = |x: u32| ((x >> 4) & 0xF000) | (x & 0xFFF);
                prop_assert_eq!(imm(hi) << 16 | imm(lo), v.wrapping_add(b));
                prop_assert_eq!(word(&direct, i * 12), v.wrapping_add(b));
            }
        }
    }
}
