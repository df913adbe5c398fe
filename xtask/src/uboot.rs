//! The image formats U-Boot's `bootm` takes, wrapped around hypfw's packed image: a legacy uImage
//! and a FIT carrying hypfw and a device tree. Both say "kernel_noload": U-Boot runs the image
//! where it lies (hypfw moves itself to a 64 KiB multiple and relocates, as from any address).
//! Formats: U-Boot's `include/image.h` (legacy header) and its FIT documentation.

use hypfw_core::payload::fdt_build::Builder;

const UIMAGE_MAGIC: u32 = 0x2705_1956;
const IH_OS_LINUX: u8 = 5;
const IH_ARCH_ARM: u8 = 2;
const IH_TYPE_KERNEL_NOLOAD: u8 = 14;
const IH_COMP_NONE: u8 = 0;

/// A legacy uImage: the 64-byte big-endian header (with the header's and the data's CRC-32), then
/// the data.
pub fn uimage(data: &[u8], name: &str) -> Vec<u8> {
    let mut h = [0u8; 64];
    let mut put = |at: usize, v: u32| h[at..at + 4].copy_from_slice(&v.to_be_bytes());
    put(0x00, UIMAGE_MAGIC);
    put(0x0C, data.len() as u32);
    put(0x10, 0); // load: none (kernel_noload)
    put(0x14, 0); // entry: the start of the data
    put(0x18, crc32fast::hash(data));
    h[0x1C] = IH_OS_LINUX;
    h[0x1D] = IH_ARCH_ARM;
    h[0x1E] = IH_TYPE_KERNEL_NOLOAD;
    h[0x1F] = IH_COMP_NONE;
    let n = name.len().min(31);
    h[0x20..0x20 + n].copy_from_slice(&name.as_bytes()[..n]);
    let hcrc = crc32fast::hash(&h);
    h[4..8].copy_from_slice(&hcrc.to_be_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out
}

/// A FIT with one configuration: hypfw's packed image as a kernel_noload "kernel" and `dtb` as
/// its flat device tree. The tree's data is laid at an offset that is 4 but not 8 bytes aligned
/// (FIT data is only 4-byte aligned; the Linux boot protocol asks for 8), so a `bootm` that leaves
/// it in place hands hypfw a tree as unaligned as a real FIT can.
pub fn fit(kernel: &[u8], dtb: &[u8]) -> Vec<u8> {
    let f = fit_with(kernel, dtb, false);
    let at = f.windows(dtb.len().min(64)).position(|w| w == &dtb[..dtb.len().min(64)]).unwrap_or(0);
    if at % 8 == 0 { fit_with(kernel, dtb, true) } else { f }
}

fn fit_with(kernel: &[u8], dtb: &[u8], pad: bool) -> Vec<u8> {
    let mut b = Builder::new();
    b.node("").prop_u32("timestamp", 0).prop_str("description", "hypfw").prop_u32("#address-cells", 1);
    b.node("images");
    b.node("kernel")
        .prop_str("description", "hypfw and its payload")
        .prop("data", kernel)
        .prop_str("type", "kernel_noload")
        .prop_str("arch", "arm")
        .prop_str("os", "linux")
        .prop_str("compression", "none")
        .prop_u32("load", 0)
        .prop_u32("entry", 0);
    b.node("hash-1").prop_str("algo", "crc32").prop_u32("value", crc32fast::hash(kernel)).end();
    b.end();
    b.node("fdt").prop_str("description", "device tree");
    if pad {
        b.prop("hypfw,align", &[]); // 12 bytes: moves what follows by 4 mod 8
    }
    b.prop("data", dtb).prop_str("type", "flat_dt");
    b.prop_str("arch", "arm").prop_str("compression", "none");
    b.node("hash-1").prop_str("algo", "crc32").prop_u32("value", crc32fast::hash(dtb)).end();
    b.end();
    b.end();
    b.node("configurations").prop_str("default", "conf-1");
    b.node("conf-1").prop_str("description", "hypfw").prop_str("kernel", "kernel").prop_str("fdt", "fdt").end();
    b.end();
    b.end();
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uimage_header_is_what_bootm_checks() {
        let u = uimage(b"0123456789abcdef", "hypfw");
        let be = |o: usize| u32::from_be_bytes(u[o..o + 4].try_into().unwrap());
        assert_eq!(be(0), UIMAGE_MAGIC);
        assert_eq!(be(0x0C), 16);
        assert_eq!(be(0x18), crc32fast::hash(b"0123456789abcdef"));
        let mut h = u[..64].to_vec();
        h[4..8].fill(0);
        assert_eq!(be(4), crc32fast::hash(&h), "header CRC over the header with its CRC field zero");
        assert_eq!((u[0x1C], u[0x1D], u[0x1E], u[0x1F]), (5, 2, 14, 0));
        assert_eq!(&u[64..], b"0123456789abcdef");
    }

    #[test]
    fn fit_carries_kernel_and_tree() {
        let f = fit(&[0xAA; 100], &[0xBB; 40]);
        let t = fdt::Fdt::new(&f).unwrap();
        let k = t.find_node("/images/kernel").unwrap();
        assert_eq!(k.property("data").unwrap().value, &[0xAA; 100][..]);
        assert_eq!(k.property("type").unwrap().as_str(), Some("kernel_noload"));
        assert_eq!(t.find_node("/images/fdt").unwrap().property("data").unwrap().value.len(), 40);
        let d = t.find_node("/images/fdt").unwrap().property("data").unwrap().value;
        assert_eq!((d.as_ptr() as usize - f.as_ptr() as usize) % 8, 4, "the tree's data is 4 mod 8");
        let c = t.find_node("/configurations/conf-1").unwrap();
        assert_eq!(c.property("fdt").unwrap().as_str(), Some("fdt"));
    }
}
