//! The device tree the payload gets: the firmware's tree with hypfw's region reserved, the
//! payload's command line and initrd in /chosen, and, when hypfw is the PSCI provider (it entered
//! from Secure SVC, where the platform offers none), a /psci node and PSCI enable methods.
//! Written with `dtoolkit`'s tree model (needs an allocator; the boot phase has a bump heap).

use crate::mm::layout::MemRange;
use crate::platform::dtb::DtbError;
use alloc::vec::Vec;
use dtoolkit::fdt::Fdt;
use dtoolkit::model::{DeviceTree, DeviceTreeNode, DeviceTreeProperty};
use dtoolkit::{Node, Property};

#[derive(Clone, Copy, Debug)]
pub struct Edits<'a> {
    /// hypfw's region: never to be used by the payload.
    pub reserved: MemRange,
    pub bootargs: Option<&'a str>,
    /// Physical range of the initrd as placed.
    pub initrd: Option<MemRange>,
    /// Describe hypfw as the PSCI provider (method "smc", trapped by HCR.TSC).
    pub provide_psci: bool,
}

fn cells(root: &DeviceTreeNode, name: &str, default: u32) -> u32 {
    root.property(name)
        .and_then(|p| p.value().get(..4).map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]])))
        .unwrap_or(default)
}

fn encode(v: u64, cells: u32) -> Vec<u32> {
    match cells {
        1 => alloc::vec![v as u32],
        _ => alloc::vec![(v >> 32) as u32, v as u32],
    }
}

/// Replace (or add) a property.
fn set<T: dtoolkit::ToPropertyValue>(node: &mut DeviceTreeNode, name: &str, v: T) {
    node.remove_property(name);
    node.add_property(prop(name, v));
}

fn prop<T: dtoolkit::ToPropertyValue>(name: &str, v: T) -> DeviceTreeProperty {
    DeviceTreeProperty::new_unchecked(name, v)
}

/// Apply `e` to the (already validated) tree in `src`; returns the new blob.
pub fn rewrite(src: &[u8], e: &Edits) -> Result<Vec<u8>, DtbError> {
    let fdt = Fdt::new(src).map_err(|_| DtbError::Parse)?;
    let mut tree = DeviceTree::from_fdt(&fdt);
    let ac = cells(&tree.root, "#address-cells", 2);
    let sc = cells(&tree.root, "#size-cells", 1);
    let reg = |r: MemRange| {
        let mut v = encode(r.base, ac);
        v.extend(encode(r.size, sc));
        v
    };

    // /reserved-memory/hypfw@...: no-map, so the payload neither uses nor maps it.
    if tree.root.child_mut("reserved-memory").is_none() {
        let mut rm = DeviceTreeNode::new_unchecked("reserved-memory");
        rm.add_property(prop("#address-cells", ac));
        rm.add_property(prop("#size-cells", sc));
        rm.add_property(prop("ranges", &[][..] as &[u8]));
        tree.root.add_child(rm);
    }
    let rm = tree.root.child_mut("reserved-memory").ok_or(DtbError::Parse)?;
    let mut hyp = DeviceTreeNode::new_unchecked(alloc::format!("hypfw@{:x}", e.reserved.base));
    hyp.add_property(prop("reg", reg(e.reserved)));
    hyp.add_property(prop("no-map", &[][..] as &[u8]));
    rm.add_child(hyp);
    // No /memreserve/ entry as well: Linux would reserve the range from it first and then refuse
    // the no-map node as overlapping ("failed to reserve memory"), mapping the region after all.

    if tree.root.child_mut("chosen").is_none() {
        tree.root.add_child(DeviceTreeNode::new_unchecked("chosen"));
    }
    let chosen = tree.root.child_mut("chosen").ok_or(DtbError::Parse)?;
    if let Some(b) = e.bootargs {
        set(chosen, "bootargs", b);
    }
    if let Some(i) = e.initrd {
        // linux,initrd-end is exclusive; Linux reads either width, 64-bit covers LPAE.
        set(chosen, "linux,initrd-start", i.base);
        set(chosen, "linux,initrd-end", i.end());
    }

    if e.provide_psci {
        tree.root.remove_child("psci");
        let mut psci = DeviceTreeNode::new_unchecked("psci");
        psci.add_property(prop("compatible", &["arm,psci-1.0", "arm,psci-0.2"][..]));
        psci.add_property(prop("method", "smc"));
        tree.root.add_child(psci);
        if let Some(cpus) = tree.root.child_mut("cpus") {
            for c in cpus.children_mut() {
                if c.property("device_type").is_some_and(|d| d.value().starts_with(b"cpu")) {
                    set(c, "enable-method", "psci");
                }
            }
        }
    }
    Ok(tree.to_dtb())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::dtb::parse;

    const VIRT: &[u8] = include_bytes!("../../../tests/fixtures/qemu-virt-smp4.dtb");
    const SECURE: &[u8] = include_bytes!("../../../tests/fixtures/qemu-virt-secure-smp4.dtb");
    const BOARD: &[u8] = include_bytes!("../../../tests/fixtures/board-ranges.dtb");

    fn edits() -> Edits<'static> {
        Edits {
            reserved: MemRange { base: 0x7FE0_0000, size: 2 << 20 },
            bootargs: Some("console=ttyAMA0 rdinit=/init"),
            initrd: Some(MemRange { base: 0x5F00_0000, size: 0x12345 }),
            provide_psci: false,
        }
    }

    fn read_u64(v: &[u8]) -> u64 {
        v.iter().fold(0, |a, &b| (a << 8) | b as u64)
    }

    #[test]
    fn region_reserved_and_chosen_set() {
        let out = rewrite(VIRT, &edits()).unwrap();
        crate::platform::dtb::validate(&out).unwrap();
        let fdt = fdt::Fdt::new(&out).unwrap();
        let hyp = fdt.find_node("/reserved-memory/hypfw@7fe00000").expect("reserved node");
        assert!(hyp.property("no-map").is_some());
        assert_eq!(hyp.property("reg").unwrap().value, &[0, 0, 0, 0, 0x7F, 0xE0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0][..]);
        let chosen = fdt.find_node("/chosen").unwrap();
        assert_eq!(chosen.property("bootargs").unwrap().value, b"console=ttyAMA0 rdinit=/init\0");
        assert_eq!(read_u64(chosen.property("linux,initrd-start").unwrap().value), 0x5F00_0000);
        assert_eq!(read_u64(chosen.property("linux,initrd-end").unwrap().value), 0x5F01_2345);
        assert_eq!(fdt.memory_reservations().count(), 0, "no-map node only, no /memreserve/ for the same range");
        // Everything hypfw read before is still there.
        let p = parse(&out).unwrap();
        assert_eq!(p.ncpus, 4);
        assert_eq!(p.console.map(|c| c.base), Some(0x0900_0000));
        assert_eq!(p.psci, Some(crate::platform::dtb::PsciMethod::Smc));
    }

    #[test]
    fn one_cell_trees_get_one_cell_reg() {
        let mut e = edits();
        e.reserved = MemRange { base: 0xBFE0_0000, size: 2 << 20 };
        let out = rewrite(BOARD, &e).unwrap();
        let fdt = fdt::Fdt::new(&out).unwrap();
        // board-ranges.dts has #address-cells = #size-cells = 2 at the root
        let hyp = fdt.find_node("/reserved-memory/hypfw@bfe00000").unwrap();
        assert_eq!(hyp.property("reg").unwrap().value.len(), 16);
    }

    #[test]
    fn psci_provided_when_hypfw_is_the_provider() {
        let mut e = edits();
        e.provide_psci = true;
        e.bootargs = None;
        e.initrd = None;
        let out = rewrite(SECURE, &e).unwrap();
        let p = parse(&out).unwrap();
        assert_eq!(p.psci, Some(crate::platform::dtb::PsciMethod::Smc));
        assert!(p.cpus().iter().all(|c| c.psci));
        let fdt = fdt::Fdt::new(&out).unwrap();
        assert!(fdt.find_node("/chosen").unwrap().property("linux,initrd-start").is_none());
    }
}
