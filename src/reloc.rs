//! Applying the image's own dynamic relocations.
//!
//! The image is linked as a PIE, so every absolute address it stores (GOT entries, pointers in
//! statics, vtables) has an `R_ARM_RELATIVE` entry in `.rel.dyn`: "add the load bias to the word
//! at r_offset". The entry code applies them once for the load address; the boot CPU applies them
//! again, to the copy in the reserved region, for the runtime VA.

/// ELF relocation type for "word += load bias" (ELF for the ARM Architecture, table 4-9).
pub const R_ARM_RELATIVE: u32 = 23;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelocError {
    /// An entry of a type other than R_ARM_RELATIVE: the image was linked wrongly.
    UnsupportedType { offset: u32, r_type: u32 },
    /// An entry points outside the image.
    OutOfImage { offset: u32 },
}

impl core::fmt::Display for RelocError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            RelocError::UnsupportedType { offset, r_type } => {
                write!(f, "relocation at {offset:#x} has type {r_type}, only R_ARM_RELATIVE (23) is supported")
            }
            RelocError::OutOfImage { offset } => write!(f, "relocation at {offset:#x} lies outside the image"),
        }
    }
}

/// Add `bias` to every word named by the `Elf32_Rel` entries in `rel` (pairs of r_offset, r_info,
/// r_offset relative to `link_base`), in the image whose bytes are `image`. Entries are checked
/// before anything is changed, so on error the image is untouched.
pub fn apply_relative(image: &mut [u8], rel: &[[u32; 2]], link_base: u32, bias: u32) -> Result<usize, RelocError> {
    for &[offset, info] in rel {
        let r_type = info & 0xff;
        if r_type != R_ARM_RELATIVE {
            return Err(RelocError::UnsupportedType { offset, r_type });
        }
        let at = offset.wrapping_sub(link_base) as usize;
        if offset < link_base || at % 4 != 0 || at + 4 > image.len() {
            return Err(RelocError::OutOfImage { offset });
        }
    }
    for &[offset, _] in rel {
        let at = (offset - link_base) as usize;
        let w = u32::from_le_bytes(image[at..at + 4].try_into().unwrap());
        image[at..at + 4].copy_from_slice(&w.wrapping_add(bias).to_le_bytes());
    }
    Ok(rel.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn adds_bias_to_named_words_only() {
        let mut img = [0u8; 16];
        img[4..8].copy_from_slice(&0x4001_0100u32.to_le_bytes());
        img[12..16].copy_from_slice(&0x4001_0008u32.to_le_bytes());
        let rel = [[0x4001_0004, 23], [0x4001_000C, 23]];
        // relocate from link base 0x40010000 to VA 0xC0000000
        let bias = 0xC000_0000u32.wrapping_sub(0x4001_0000);
        assert_eq!(apply_relative(&mut img, &rel, 0x4001_0000, bias), Ok(2));
        assert_eq!(&img[4..8], &0xC000_0100u32.to_le_bytes());
        assert_eq!(&img[12..16], &0xC000_0008u32.to_le_bytes());
        assert_eq!(&img[0..4], &[0; 4]);
    }

    #[test]
    fn rejects_other_types_and_out_of_image_without_changing_anything() {
        let mut img = [1u8; 8];
        assert_eq!(
            apply_relative(&mut img, &[[0x1000, 23], [0x1004, 2]], 0x1000, 5),
            Err(RelocError::UnsupportedType { offset: 0x1004, r_type: 2 })
        );
        assert_eq!(img, [1u8; 8]);
        assert_eq!(apply_relative(&mut img, &[[0x1008, 23]], 0x1000, 5), Err(RelocError::OutOfImage { offset: 0x1008 }));
        assert_eq!(apply_relative(&mut img, &[[0xFFC, 23]], 0x1000, 5), Err(RelocError::OutOfImage { offset: 0xFFC }));
    }

    proptest! {
        /// Relocating for A then re-relocating by (B - A) is the same as relocating for B: what the
        /// boot CPU relies on when it moves the already-relocated image to the runtime VA.
        #[test]
        fn two_step_relocation_equals_direct(words in proptest::collection::vec(any::<u32>(), 1..64),
                                             a in any::<u32>(), b in any::<u32>(), pick in any::<u64>()) {
            let base = 0x4001_0000u32;
            let mut img: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            let rel: Vec<[u32; 2]> = (0..words.len()).filter(|i| pick >> (i % 64) & 1 == 1)
                .map(|i| [base + 4 * i as u32, 23]).collect();
            let mut direct = img.clone();
            apply_relative(&mut direct, &rel, base, b).unwrap();
            apply_relative(&mut img, &rel, base, a).unwrap();
            apply_relative(&mut img, &rel, base, b.wrapping_sub(a)).unwrap();
            prop_assert_eq!(img, direct);
        }
    }
}
