//! The ARM Linux zImage header that hypfw's raw image carries, so U-Boot's `bootz` and loaders
//! that check it accept hypfw as a kernel (field offsets: Linux arch/arm/boot/compressed/head.S).

pub const MAGIC_OFFSET: usize = 0x24;
pub const START_OFFSET: usize = 0x28;
pub const END_OFFSET: usize = 0x2C;
pub const ENDIAN_OFFSET: usize = 0x30;
pub const MAGIC: u32 = 0x016F_2818;
pub const ENDIAN_LE: u32 = 0x0403_0201;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    TooShort,
    BadMagic(u32),
    BigEndian,
    /// Larger than the 32-bit size field holds.
    TooLong,
}

impl core::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            HeaderError::TooShort => write!(f, "shorter than the 64-byte zImage header"),
            HeaderError::BadMagic(m) => {
                write!(f, "no zImage magic at offset {MAGIC_OFFSET:#x} ({MAGIC:#010x} expected, {m:#010x} found)")
            }
            HeaderError::BigEndian => write!(f, "a big-endian zImage (the payload runs little-endian)"),
            HeaderError::TooLong => write!(f, "larger than the header's 32-bit size field"),
        }
    }
}

fn word(img: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(img[off..off + 4].try_into().unwrap())
}

/// Check the header and fill in the image size (start = 0: position independent, so end = size).
pub fn finish_header(img: &mut [u8]) -> Result<(), HeaderError> {
    if img.len() < 0x40 {
        return Err(HeaderError::TooShort);
    }
    let m = word(img, MAGIC_OFFSET);
    if m != MAGIC {
        return Err(HeaderError::BadMagic(m));
    }
    if word(img, ENDIAN_OFFSET) != ENDIAN_LE {
        return Err(HeaderError::BigEndian);
    }
    let len = u32::try_from(img.len()).map_err(|_| HeaderError::TooLong)?;
    // Both words are written: a start left over from the linker would skew the size bootz reads.
    img[START_OFFSET..START_OFFSET + 4].copy_from_slice(&0u32.to_le_bytes());
    img[END_OFFSET..END_OFFSET + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// What `bootz` checks: magic, and start/end giving the size.
pub fn image_size(img: &[u8]) -> Result<u32, HeaderError> {
    if img.len() < 0x40 {
        return Err(HeaderError::TooShort);
    }
    let m = word(img, MAGIC_OFFSET);
    if m != MAGIC {
        return Err(HeaderError::BadMagic(m));
    }
    Ok(word(img, END_OFFSET).wrapping_sub(word(img, START_OFFSET)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_size_is_filled_and_read_back() {
        let mut img = vec![0u8; 0x1234];
        img[MAGIC_OFFSET..MAGIC_OFFSET + 4].copy_from_slice(&MAGIC.to_le_bytes());
        img[ENDIAN_OFFSET..ENDIAN_OFFSET + 4].copy_from_slice(&ENDIAN_LE.to_le_bytes());
        finish_header(&mut img).unwrap();
        assert_eq!(image_size(&img), Ok(0x1234));
    }

    /// Found by `cargo xtask fuzz`: a non-zero start word used to survive and skew the size.
    #[test]
    fn a_stale_start_word_is_overwritten() {
        let mut img = vec![0u8; 0x200];
        img[MAGIC_OFFSET..MAGIC_OFFSET + 4].copy_from_slice(&MAGIC.to_le_bytes());
        img[ENDIAN_OFFSET..ENDIAN_OFFSET + 4].copy_from_slice(&ENDIAN_LE.to_le_bytes());
        img[START_OFFSET..START_OFFSET + 4].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        finish_header(&mut img).unwrap();
        assert_eq!(image_size(&img), Ok(0x200));
    }

    #[test]
    fn bad_headers_are_refused() {
        assert_eq!(finish_header(&mut [0u8; 8]), Err(HeaderError::TooShort));
        assert_eq!(finish_header(&mut [0u8; 0x40]), Err(HeaderError::BadMagic(0)));
    }
}
