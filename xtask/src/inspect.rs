//! `cargo xtask inspect FILE.dtb`: what hypfw would use on the board that device tree describes,
//! as JSON. The values come from `hypfw-core`'s own reader (the code the firmware runs), so the
//! report is what hypfw would do, not a second opinion; only strings hypfw keeps no copy of (a
//! CPU's enable-method, an unknown console's compatible) are read here with the `fdt` crate.

use hypfw_core::mm::layout::{RESERVED_BUDGET, choose_reserved_region};
use hypfw_core::platform::dtb::{self, Description, PsciMethod, UartKind};
use hypfw_core::services::release;
use std::fmt::Write;

fn hex(v: u64) -> String {
    format!("\"{v:#x}\"")
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Strings of the tree hypfw does not keep: each enabled CPU's enable-method (in /cpus order) and
/// the compatible of the node `/chosen/stdout-path` (else the `serial0` alias) names.
struct Extra {
    enable_methods: Vec<Option<String>>,
    stdout_compatible: Option<String>,
}

fn extra(blob: &[u8]) -> Extra {
    let none = || Extra { enable_methods: Vec::new(), stdout_compatible: None };
    // The `fdt` crate trusts offsets inside a tree it accepted (it panicked on corrupted Debian
    // trees): only a tree hypfw's own validation accepts goes to it, and a panic there still only
    // loses these extras.
    if dtb::validate(blob).is_err() {
        return none();
    }
    let silent = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let got = std::panic::catch_unwind(|| extra_unchecked(blob));
    std::panic::set_hook(silent);
    got.unwrap_or_else(|_| none())
}

fn extra_unchecked(blob: &[u8]) -> Extra {
    let mut e = Extra { enable_methods: Vec::new(), stdout_compatible: None };
    let Ok(fdt) = fdt::Fdt::new(blob) else { return e };
    if let Some(cpus) = fdt.find_node("/cpus") {
        for c in cpus.children() {
            let is_cpu = c.property("device_type").and_then(|p| p.as_str()) == Some("cpu");
            let enabled = c.property("status").and_then(|p| p.as_str()).is_none_or(|s| s.starts_with("ok"));
            if is_cpu && enabled {
                e.enable_methods.push(c.property("enable-method").and_then(|p| p.as_str()).map(str::to_string));
            }
        }
    }
    // `stdout-path` resolved here (`Fdt::chosen` panics on a tree without /chosen, and its
    // `stdout` misses aliases whose target is given as a path with unit addresses).
    let prop_str = |node: &str, name: &str| {
        fdt.find_node(node).and_then(|n| n.property(name)).and_then(|p| p.as_str()).map(str::to_string)
    };
    // As the firmware does: else the `serial0` alias.
    let path = prop_str("/chosen", "stdout-path")
        .or_else(|| prop_str("/chosen", "linux,stdout-path"))
        .or_else(|| Some("serial0".to_string()));
    if let Some(path) = path {
        let path = path.split(':').next().unwrap_or_default();
        let path = if path.starts_with('/') { Some(path.to_string()) } else { prop_str("/aliases", path) };
        e.stdout_compatible = path
            .and_then(|p| fdt.find_node(&p))
            .and_then(|n| n.compatible())
            .and_then(|c| c.first().into())
            .map(str::to_string);
    }
    e
}

/// The JSON report for a device tree blob.
pub fn report(blob: &[u8]) -> String {
    let mut problems: Vec<String> = Vec::new();
    // As the firmware does: free space and NOPs go first.
    let mut tidied = blob.to_vec();
    let blob = match dtb::tidy(&mut tidied) {
        Ok((len, _)) => &tidied[..len],
        Err(_) => blob,
    };
    let described = dtb::describe(blob);
    let x = extra(blob);
    let mut j = String::from("{\n");
    let Ok(Description { platform: p, .. }) = described else {
        let e = described.unwrap_err();
        problems.push(format!("hypfw cannot read this device tree: {e}"));
        j.push_str("  \"ram\": [],\n  \"console\": null,\n  \"gic\": null,\n  \"cpus\": [],\n  \"psci\": null,\n");
        j.push_str("  \"hyp_region\": null,\n");
        return finish(j, &problems);
    };
    if p.ram().is_empty() {
        problems
            .push("no usable /memory: the bootloader must fill it in (U-Boot does before it starts a kernel)".into());
    }
    if p.ram_ignored > 0 {
        problems.push(format!(
            "{} /memory range(s) past the {} separate banks and {} memory nodes hypfw reads: it stops at boot",
            p.ram_ignored,
            hypfw_core::platform::dtb::MAX_RAM,
            hypfw_core::platform::dtb::MAX_MEMORY_NODES
        ));
    }
    if p.reserved_ignored > 0 {
        problems.push(format!(
            "{} reserved range(s) past the {} hypfw reads: it stops at boot",
            p.reserved_ignored,
            hypfw_core::platform::dtb::MAX_RESERVED
        ));
    }
    let ram: Vec<String> =
        p.ram().iter().map(|r| format!("{{\"base\": {}, \"size\": {}}}", hex(r.base), hex(r.size))).collect();
    let _ = writeln!(j, "  \"ram\": [{}],", ram.join(", "));
    match p.console {
        Some(c) => {
            let (kind, shift, width) = match c.kind {
                UartKind::Pl011 => ("pl011", 0, 4),
                UartKind::Ns16550 { reg_shift, io_width } => ("ns16550", reg_shift, io_width),
                UartKind::Samsung { .. } => ("samsung", 0, 4),
                UartKind::Stm32 => ("stm32", 0, 4),
                UartKind::Imx => ("imx", 0, 4),
                UartKind::Unsupported => ("unsupported", 0, 0),
            };
            let compatible = c.compatible().map(str::to_string).or(x.stdout_compatible.clone()).unwrap_or_default();
            if c.kind == UartKind::Unsupported {
                problems.push(format!("the console ({compatible}) has no driver in hypfw: it boots without output"));
            }
            let _ = writeln!(
                j,
                "  \"console\": {{\"compatible\": {}, \"kind\": \"{kind}\", \"base\": {}, \"reg_shift\": {shift}, \"reg_io_width\": {width}}},",
                quote(&compatible),
                hex(c.base)
            );
        }
        None => {
            problems.push("no console UART: hypfw boots without output".into());
            j.push_str("  \"console\": null,\n");
        }
    }
    match p.gic {
        Some(g) => {
            let opt = |r: Option<(u64, u64)>| r.map_or("null".to_string(), |r| hex(r.0));
            if g.hyp.is_none() {
                problems.push("the GIC has no virtual interface control block in the tree".into());
            }
            let _ = writeln!(
                j,
                "  \"gic\": {{\"dist\": {}, \"cpu\": {}, \"hyp\": {}, \"vcpu\": {}}},",
                hex(g.dist.0),
                hex(g.cpu.0),
                opt(g.hyp),
                opt(g.vcpu)
            );
        }
        None => {
            problems.push("no GICv2 in the tree".into());
            j.push_str("  \"gic\": null,\n");
        }
    }
    let cpus: Vec<String> = p
        .cpus()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let m = x.enable_methods.get(i).cloned().flatten();
            format!(
                "{{\"mpidr\": {}, \"enable_method\": {}}}",
                hex(c.mpidr as u64),
                m.map_or("null".into(), |m| quote(&m))
            )
        })
        .collect();
    let _ = writeln!(j, "  \"cpus\": [{}],", cpus.join(", "));
    match p.psci {
        Some(m) => {
            let method = if m == PsciMethod::Smc { "smc" } else { "hvc" };
            if m == PsciMethod::Hvc {
                problems.push("PSCI by HVC cannot be used from HYP: secondary CPUs stay off".into());
            }
            let _ = writeln!(j, "  \"psci\": {{\"method\": \"{method}\"}},");
        }
        None => {
            // hypfw starts them itself where it knows the SoC's release mailbox (and the GIC
            // has more than one CPU interface, which only the board can say).
            let mailbox = p.cpu_release.and_then(|r| release::start(&r, 0, 0));
            if p.ncpus > 1 && mailbox.is_none() {
                problems.push(format!(
                    "no /psci: hypfw cannot start the other {} CPU(s) unless the bootloader adds it (U-Boot does where it provides PSCI)",
                    p.ncpus - 1
                ));
            }
            j.push_str("  \"psci\": null,\n");
        }
    }
    match p.cpu_release {
        Some(r) => {
            let ranges: Vec<String> = [r.range(), r.range2()]
                .iter()
                .filter(|g| g.size != 0)
                .map(|g| format!("{{\"base\": {}, \"size\": {}}}", hex(g.base), hex(g.size)))
                .collect();
            let _ = writeln!(
                j,
                "  \"cpu_release\": {{\"kind\": {}, \"ranges\": [{}], \"hypfw_starts_cpus\": {}}},",
                quote(r.kind.name()),
                ranges.join(", "),
                // Through this block, when the tree has no PSCI and hypfw is entered in HYP.
                release::start(&r, 0, 0).is_some()
            );
        }
        None => j.push_str("  \"cpu_release\": null,\n"),
    }
    // hypfw sizes its region at boot (image, page tables, a stack per CPU); this places the most it
    // takes, its budget, and the region starts at or above this base.
    let region = p.ram().first().and_then(|b| choose_reserved_region(*b, RESERVED_BUDGET, p.reserved()).ok());
    match region {
        Some(r) => {
            let _ = writeln!(j, "  \"hyp_region\": {{\"base\": {}, \"size\": {}}},", hex(r.0), hex(RESERVED_BUDGET));
        }
        None => {
            if !p.ram().is_empty() {
                problems.push("no place for hypfw's region in the first RAM bank".into());
            }
            j.push_str("  \"hyp_region\": null,\n");
        }
    }
    finish(j, &problems)
}

fn finish(mut j: String, problems: &[String]) -> String {
    let ps: Vec<String> = problems.iter().map(|p| quote(p)).collect();
    let _ = writeln!(j, "  \"problems\": [{}]\n}}", ps.join(", "));
    j
}

/// `cargo xtask inspect FILE.dtb...`
pub fn cmd(args: &[String]) -> Result<u8, String> {
    if args.is_empty() {
        return Err("usage: cargo xtask inspect FILE.dtb...".into());
    }
    for f in args {
        let blob = std::fs::read(f).map_err(|e| format!("{f}: {e}"))?;
        print!("{}", report(&blob));
    }
    Ok(0)
}

/// The five boards of hypfw's users, as Debian's armhf `linux-image-*-armmp` package ships their
/// device trees, and STM32MP157 (Cortex-A7 with the Virtualization Extensions, RAM at
/// 0xC000_0000).
pub const BOARDS: [&str; 6] = [
    "am57xx-beagle-x15",
    "tegra124-jetson-tk1",
    "exynos5250-arndale",
    "vexpress-v2p-ca15-tc1",
    "sun7i-a20-bananapi",
    "stm32mp157c-dk2",
];

/// `inspect` on each board's device tree against `tests/boards/NAME.json`, whose values were
/// checked by hand against the boards' DTS files. Returns (passed, failed).
pub fn check_boards() -> Result<(u32, u32), String> {
    let dir = crate::linux::dtb_dir()?;
    let (mut passed, mut failed) = (0, 0);
    for b in BOARDS {
        let blob = std::fs::read(dir.join(format!("{b}.dtb"))).map_err(|e| format!("{b}.dtb: {e}"))?;
        let expected_path = crate::root().join("tests/boards").join(format!("{b}.json"));
        let expected =
            std::fs::read_to_string(&expected_path).map_err(|e| format!("{}: {e}", expected_path.display()))?;
        let got = report(&blob);
        let rewritten = check_rewrite(&blob);
        if got == expected && rewritten.is_ok() {
            passed += 1;
            println!("board {b} ... ok");
        } else {
            failed += 1;
            println!("board {b} ... FAILED\n--- expected\n{expected}--- inspect printed\n{got}");
            if let Err(e) = rewritten {
                println!("--- the payload's device tree: {e}");
            }
        }
    }
    Ok((passed, failed))
}

/// The payload's device tree made from a board's: it must be valid, read as the same platform
/// (hypfw's region aside), and carry hypfw's reserved node and the payload's command line.
fn check_rewrite(blob: &[u8]) -> Result<(), String> {
    use hypfw_core::mm::layout::MemRange;
    use hypfw_core::payload::rewrite::{Edits, rewrite};
    let e = Edits {
        // A region as hypfw sizes it: page aligned, not 2 MiB aligned.
        reserved: MemRange { base: 0xBFFC_3000, size: 0x3_D000 },
        bootargs: Some("console=ttyS0,115200 earlyprintk"),
        initrd: Some(MemRange { base: 0x9000_0000, size: 0x10_0000 }),
        psci: hypfw_core::payload::rewrite::PsciNode::Keep,
    };
    let mut out = vec![0u8; 1 << 20];
    let n = rewrite(blob, &e, &mut out).map_err(|e| e.to_string())?;
    let out = &out[..n];
    dtb::validate(out).map_err(|e| format!("not valid: {e}"))?;
    let (mut before, after) =
        (dtb::describe(blob).map_err(|e| e.to_string())?, dtb::describe(out).map_err(|e| e.to_string())?);
    // hypfw's region is the one reservation the payload's tree adds.
    let mut expected_reserved = before.platform.reserved().to_vec();
    expected_reserved.push(e.reserved);
    if after.platform.reserved() != expected_reserved.as_slice() {
        return Err(format!("reservations {:?}, expected {expected_reserved:?}", after.platform.reserved()));
    }
    before.platform.reserved = after.platform.reserved;
    before.platform.nreserved = after.platform.nreserved;
    // and the one hole in /memory (the Banana Pi's tree has no usable /memory to cut).
    let cut: u64 = before.platform.ram().iter().map(|r| r.size).sum::<u64>()
        - after.platform.ram().iter().map(|r| r.size).sum::<u64>();
    let expect_cut = if before.platform.ram().iter().any(|r| r.base <= e.reserved.base && e.reserved.end() <= r.end()) {
        e.reserved.size
    } else {
        0
    };
    if cut != expect_cut {
        return Err(format!("/memory lost {cut:#x} bytes, expected {expect_cut:#x} (hypfw's region)"));
    }
    before.platform.ram = after.platform.ram;
    before.platform.ram_banks = after.platform.ram_banks;
    // /chosen names the initrd the edit placed.
    if after.initrd != e.initrd {
        return Err(format!("initrd {:?}, expected {:?}", after.initrd, e.initrd));
    }
    before.initrd = after.initrd;
    if before != after {
        return Err(format!("reads differently: {before:?} vs {after:?}"));
    }
    let fdt = fdt::Fdt::new(out).map_err(|e| format!("{e:?}"))?;
    fdt.find_node("/reserved-memory/hypfw@bffc3000").ok_or("no /reserved-memory/hypfw@bffc3000")?;
    let args = fdt.chosen().bootargs().ok_or("no bootargs")?;
    if args != "console=ttyS0,115200 earlyprintk" {
        return Err(format!("bootargs {args:?}"));
    }
    // Every node and property of the source is still there (names of any length).
    let src = fdt::Fdt::new(blob).map_err(|e| format!("{e:?}"))?;
    let count = |f: &fdt::Fdt| f.all_nodes().map(|n| 1 + n.properties().count()).sum::<usize>();
    if count(&fdt) < count(&src) {
        return Err("nodes or properties were lost".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `inspect` on damaged trees: a report, never a panic (the `fdt` crate it uses for the
    /// extras panicked on corrupted offsets), and on a tree without /chosen.
    #[test]
    fn damaged_trees_get_a_report() {
        let good = std::fs::read(crate::root().join("tests/fixtures/qemu-virt-smp4.dtb")).unwrap();
        let mut r = hypfw_core::rng::Rng::new(1);
        for _ in 0..400 {
            let mut b = good.clone();
            for _ in 0..4 {
                let at = r.index(b.len());
                b[at] = r.next_u32() as u8;
            }
            let r = report(&b);
            assert!(r.starts_with('{') && r.contains("\"problems\""), "{r}");
        }
        // Without /chosen: renamed away, the tree stays valid.
        let mut b = good.clone();
        let at = b.windows(7).position(|w| w == b"chosen\0").unwrap();
        b[at..at + 6].copy_from_slice(b"choseX");
        assert!(report(&b).contains("\"console\""));
    }
}
