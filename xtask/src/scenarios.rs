//! `cargo xtask test`: host unit tests, then the QEMU boot scenarios in `tests/qemu/*.test`
//! (`HYPFW_TEST_SHOW=1` prints the console of the scenarios that pass too).
//!
//! A scenario file is `key: value` lines:
//!   machine: virt,virtualization=on     smp: 2     memory: 1024 (MiB)
//!   cpu: cortex-a7                      (default cortex-a15)
//!   image: bin | bare | elf | loader@[bare:|linux:]ADDR
//!                                       (bin: hypfw + self-test payload; bare: hypfw alone;
//!                                        loader: raw image at ADDR, started by a shim that
//!                                        passes r2 = the DTB given by `dtb:`, as U-Boot would)
//!          | linux                      (hypfw + Debian's armmp kernel + test initramfs)
//!          | linux@CONSOLE[+reboot]     (the same with console=CONSOLE and 10 hotplug cycles,
//!                                        for board models: linux@ttyS0; +reboot: /init ends
//!                                        with `reboot -f`, and QEMU runs with -no-reboot as
//!                                        in every scenario, so the reset ends the run)
//!          | linux-lpae                 (the same with Debian's armmp-lpae kernel, 10 cycles)
//!          | board | board-bare            (the build without semihosting: exits through PSCI)
//!          | debug-bin                  (the debug build, with the self-test payload)
//!          | u-boot                     (hypfw.bin read from a virtio disk and started by
//!                                        Debian's U-Boot with bootz)
//!          | u-boot-bootm | u-boot-fit  (the same as a uImage / a FIT with qemu-virt-smp4.dtb,
//!                                        started with bootm)
//!          | u-boot-initrd              (hypfw + Debian's kernel, no initrd, and the test
//!                                        initramfs apart: bootz KERNEL INITRD:SIZE FDT)
//!          | pack-raw@ADDR              (the self-test payload packed as a raw image to run at ADDR)
//!          | bios@[linux:]ADDR          (packed image at ADDR, entered from a shim in flash by
//!                                        every CPU, with QEMU's DTB; linux: the Linux pack)
//!   dtb: debian:BOARD                   (-kernel images) QEMU's -dtb: BOARD.dtb of Debian's armhf
//!                                       kernel package
//!   dtb: FIXTURE [corrupt=magic|struct|truncate | edit=rename=OLD/NEW|libfdt|memory=BASE/SIZE]
//!        (with image: loader@... or bios@...; libfdt: a NOP token and 4 MiB of free space, as libfdt's edits
//!        leave a tree; memory: the /memory reg moved, hex)
//!   append: ARGS                        kernel command line (/chosen/bootargs), -kernel boots only
//!   semihosting: off                    QEMU without -semihosting-config (as a user types it)
//!   damage: pack+N                      flip the bits of byte N of the payload pack
//!   entry-state: caches-on              (loader images) the shim turns the HYP caches on first
//!   r2: HEX                             (loader images) r2 as the shim passes it, instead of
//!                                       the DTB's address (the DTB is still loaded)
//!   exit: N | timeout                   expected QEMU exit status (timeout: a halt, QEMU must
//!                                       still run when the timeout ends it)
//!   timeout: SECONDS                    (default 30)
//!   expect: TEXT                        a console line must contain TEXT (repeatable)
//!   reject: TEXT                        no console line may contain TEXT

use crate::qemu::{Qemu, run_captured};
use crate::{BuildOpts, build, root};
use std::process::Command;
use std::time::Duration;

struct Scenario {
    name: String,
    timeout: u64,
    q: Qemu,
    /// The expected exit status; None: the run must not end by itself (a halt), so it ends at the
    /// timeout.
    exit: Option<i32>,
    expect: Vec<String>,
    reject: Vec<String>,
}

/// Above the 1 MiB QEMU reserves for its own DTB at the start of RAM when there is no -kernel.
const SHIM_ADDR: u64 = 0x4010_0000;
const DTB_ADDR: u64 = 0x4400_0000;

/// A boot shim in A32 machine code: r0 = 0, r1 = ~0, r2 = DTB, jump to the image (what U-Boot's
/// bootz does). Encodings: ARM DDI 0406C A8.8.102 (MOV), A8.8.116 (MVN), A8.8.64 (LDR literal).
pub(crate) fn shim(dtb: u32, entry: u32) -> Vec<u8> {
    shim_with(&[], dtb, entry)
}

/// The shim, after `prefix` (more A32 instructions) has run.
fn shim_with(prefix: &[u32], dtb: u32, entry: u32) -> Vec<u8> {
    prefix
        .iter()
        .chain(&[0xE3A0_0000u32, 0xE3E0_1000, 0xE59F_2004, 0xE59F_F004, 0xE1A0_0000, dtb, entry])
        .flat_map(|w| w.to_le_bytes())
        .collect()
}

/// Leave the HYP D- and I-cache enabled (MMU off), as a careless bootloader might:
/// MRC p15,4,r3,c1,c0,0 (HSCTLR); ORR r3,#4 (C); ORR r3,#0x1000 (I); MCR; ISB (A8.8.108, A8.8.99,
/// A8.8.123, A8.8.54).
const HSCTLR_CACHES_ON: [u32; 5] = [0xEE91_3F10, 0xE383_3004, 0xE383_3A01, 0xEE81_3F10, 0xF57F_F06F];

/// Damage (or edit) a fixture DTB: `magic`, `struct`, `truncate`, or `rename=OLD/NEW`, which
/// replaces every OLD string with NEW of the same length (a compatible hypfw does not know).
fn corrupt(mut b: Vec<u8>, how: &str) -> Result<Vec<u8>, String> {
    if let Some((base, size)) = how.strip_prefix("memory=").and_then(|r| r.split_once('/')) {
        // The fixture's one /memory reg, QEMU's 1 GiB at 0x4000_0000 (two cells each), moved.
        let num = |v: &str| u64::from_str_radix(v.trim_start_matches("0x"), 16).map_err(|_| format!("memory={v}"));
        let (base, size) = (num(base)?, num(size)?);
        let old: Vec<u8> = [0x4000_0000u64, 0x4000_0000].iter().flat_map(|v| v.to_be_bytes()).collect();
        let new: Vec<u8> = [base, size].iter().flat_map(|v| v.to_be_bytes()).collect();
        let at: Vec<usize> = b.windows(old.len()).enumerate().filter(|(_, w)| *w == &old[..]).map(|(i, _)| i).collect();
        let [at] = at[..] else { return Err("memory=: the DTB has no single 1 GiB /memory reg at 0x40000000".into()) };
        b[at..at + 16].copy_from_slice(&new);
        return Ok(b);
    }
    if let Some((node, value)) = how.strip_prefix("reg=").and_then(|r| r.split_once('/')) {
        return set_first_reg_cell(b, node, value);
    }
    if let Some((old, new)) = how.strip_prefix("rename=").and_then(|r| r.split_once('/')) {
        if old.len() != new.len() || old.is_empty() {
            return Err(format!("rename={old}/{new}: the two strings must have the same length"));
        }
        let mut n = 0;
        while let Some(at) = b.windows(old.len()).position(|w| w == old.as_bytes()) {
            b[at..at + old.len()].copy_from_slice(new.as_bytes());
            n += 1;
        }
        return if n > 0 { Ok(b) } else { Err(format!("rename: {old} is not in the DTB")) };
    }
    match how {
        "libfdt" => {
            // As libfdt leaves a tree after deleting things: a NOP token between the root's
            // properties and its first child, and megabytes of free space in totalsize.
            let be = |b: &[u8], o: usize| u32::from_be_bytes(b[o..o + 4].try_into().unwrap()) as usize;
            let (off_struct, off_strings) = (be(&b, 8), be(&b, 12));
            let mut p = off_struct + 4; // past the root's FDT_BEGIN_NODE
            p += (b[p..].iter().position(|&c| c == 0).unwrap() + 1).next_multiple_of(4);
            while be(&b, p) == 3 {
                p += 12 + be(&b, p + 4).next_multiple_of(4); // FDT_PROP, len, nameoff, value
            }
            b.splice(p..p, 4u32.to_be_bytes());
            let patch = |b: &mut Vec<u8>, o: usize, v: usize| b[o..o + 4].copy_from_slice(&(v as u32).to_be_bytes());
            let size_struct = be(&b, 36);
            patch(&mut b, 36, size_struct + 4);
            if off_strings > off_struct {
                patch(&mut b, 12, off_strings + 4);
            }
            patch(&mut b, 4, 4 << 20);
        }
        "magic" => b[0..4].copy_from_slice(&0xDEAD_BEEFu32.to_be_bytes()),
        "struct" => {
            let off = u32::from_be_bytes(b[8..12].try_into().unwrap()) as usize;
            b[off..off + 4].copy_from_slice(&0x77u32.to_be_bytes());
        }
        "truncate" => {
            let total = b.len() as u32 * 4;
            b[4..8].copy_from_slice(&total.to_be_bytes());
        }
        o => return Err(format!("unknown corruption {o}")),
    }
    Ok(b)
}

/// `reg=NODE/VALUE`: the first cell of the `reg` of the node named NODE (its unit name, e.g.
/// `cpu@1`; the first such node) set to VALUE (hex): a CPU whose MPIDR the machine does not have.
fn set_first_reg_cell(mut b: Vec<u8>, node: &str, value: &str) -> Result<Vec<u8>, String> {
    let be = |b: &[u8], o: usize| u32::from_be_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    let v = u32::from_str_radix(value.trim_start_matches("0x"), 16).map_err(|_| format!("reg=: {value}"))?;
    let (off_struct, off_strings, size_struct) = (be(&b, 8), be(&b, 12), be(&b, 36));
    fn name_at(b: &[u8], o: usize) -> &[u8] {
        let s = &b[o..];
        &s[..s.iter().position(|&c| c == 0).unwrap_or(0)]
    }
    let (mut p, end, mut inside) = (off_struct, off_struct + size_struct, false);
    while p + 4 <= end {
        match be(&b, p) {
            1 => {
                let name = &b[p + 4..];
                let len = name.iter().position(|&c| c == 0).unwrap_or(0);
                inside = &name[..len] == node.as_bytes();
                p += 4 + (len + 1).next_multiple_of(4);
            }
            3 => {
                let (len, nameoff) = (be(&b, p + 4), be(&b, p + 8));
                if inside && name_at(&b, off_strings + nameoff) == b"reg" && len >= 4 {
                    b[p + 12..p + 16].copy_from_slice(&v.to_be_bytes());
                    return Ok(b);
                }
                p += 12 + len.next_multiple_of(4);
            }
            _ => p += 4,
        }
    }
    Err(format!("reg=: no node {node} with a reg"))
}

/// (text to wait for, line to type) pairs, for a firmware's interactive prompt.
pub(crate) type PromptScript = Vec<(String, String)>;

/// The scenario keys that choose what QEMU boots, before they are turned into QEMU arguments.
struct Boot {
    image: String,
    dtb: Option<String>,
    damage: Option<usize>,
    prefix: &'static [u32],
    /// `r2:` for `loader@` images: the register the shim passes instead of the DTB's address.
    r2: Option<u32>,
}

fn parse(
    path: &std::path::Path,
    imgs: &crate::Images,
    board: &crate::Images,
    tmp: &std::path::Path,
) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let name = path.file_stem().unwrap().to_string_lossy().to_string();
    let mut s = Scenario {
        name: name.clone(),
        timeout: 30,
        q: Qemu::new("virt,virtualization=on"),
        exit: Some(0),
        expect: vec![],
        reject: vec![],
    };
    let boot = read_keys(&mut s, &text, imgs)?;
    // A reset the guest asks for ends the run (QEMU exits 0) instead of booting it again.
    s.q.extra.push("-no-reboot".into());
    // `dtb: debian:NAME` with a -kernel image: QEMU passes that board DTB from Debian's armhf
    // kernel package (fetched and cached like the Linux payload).
    // `debian:NAME edit=...` passes a copy of it, edited as for the fixtures.
    if let Some(board_dtb) = boot.dtb.as_deref().and_then(|d| d.strip_prefix("debian:")) {
        let mut words = board_dtb.split_whitespace();
        let path = crate::linux::dtb_dir()?.join(format!("{}.dtb", words.next().unwrap_or("")));
        let path = match words.next().and_then(|w| w.strip_prefix("edit=")) {
            Some(how) => {
                let blob = corrupt(std::fs::read(&path).map_err(|e| e.to_string())?, how)?;
                let edited = tmp.join(format!("{name}.dtb"));
                std::fs::write(&edited, blob).map_err(|e| e.to_string())?;
                edited
            }
            None => path,
        };
        s.q.extra.extend(["-dtb".to_string(), path.display().to_string()]);
    }
    let bin = match boot.damage {
        Some(at) => damaged_copy(&imgs.bin, at, &tmp.join(format!("{name}.bin")))?,
        None => imgs.bin.display().to_string(),
    };
    let bare = imgs.bare.display().to_string();
    s.q.load = match boot.image.as_str() {
        "bin" => vec!["-kernel".into(), bin],
        "bare" => vec!["-kernel".into(), bare],
        "board" => vec!["-kernel".into(), board.bin.display().to_string()],
        "board-bare" => vec!["-kernel".into(), board.bare.display().to_string()],
        "elf" => vec!["-kernel".into(), imgs.elf.display().to_string()],
        // The debug build (no optimisation of inlining, overflow checks on), built on demand.
        "debug-bin" => {
            let d = build(&BuildOpts { release: false, semihosting: true })?;
            vec!["-kernel".into(), d.bin.display().to_string()]
        }
        "linux" => vec!["-kernel".into(), crate::linux::packed_image()?.0.display().to_string()],
        "linux-lpae" => vec!["-kernel".into(), crate::linux::packed_lpae_image()?.display().to_string()],
        l if l.starts_with("linux@") => {
            vec!["-kernel".into(), crate::linux::packed_image_for(&l["linux@".len()..])?.display().to_string()]
        }
        l if l.starts_with("loader@") => {
            let (which, at) =
                l.trim_start_matches("loader@").split_once(':').unwrap_or(("bin", l.trim_start_matches("loader@")));
            let file = match which {
                "bare" => bare,
                // The Linux pack with 10 hotplug cycles (`linux@ttyAMA0`).
                "linux" => crate::linux::packed_image_for("ttyAMA0")?.display().to_string(),
                _ => bin,
            };
            loader_args(&name, &boot, &file, at, tmp)?
        }
        "u-boot-initrd" => {
            let (load, script) = uboot_initrd_args(&name, tmp)?;
            s.q.prompt_script = script;
            load
        }
        "u-boot" | "u-boot-bootm" | "u-boot-fit" => {
            let (load, script) = uboot_args(&name, &bin, boot.image.as_str(), tmp)?;
            s.q.prompt_script = script;
            load
        }
        l if l.starts_with("bios@linux:") => {
            // The Linux pack (10 hotplug cycles) in place of the default image.
            let file = crate::linux::packed_image_for("ttyAMA0")?.display().to_string();
            bios_args(&name, &file, &l.replace("bios@linux:", "bios@"), tmp)?
        }
        l if l.starts_with("bios@") => match &boot.dtb {
            // With a fixture of its own: loaded beside the image, and r2 points there.
            Some(_) => {
                let dtb_path = tmp.join(format!("{name}.dtb"));
                std::fs::write(&dtb_path, dtb_blob(&boot)?).map_err(|e| e.to_string())?;
                let mut a = bios_args_with(&name, &bin, l, tmp, DTB_ADDR as u32)?;
                a.extend([
                    "-device".into(),
                    format!("loader,file={},addr={DTB_ADDR:#x},force-raw=on", dtb_path.display()),
                ]);
                a
            }
            None => bios_args(&name, &bin, l, tmp)?,
        },
        l if l.starts_with("pack-raw@") => {
            // The self-test payload's bytes packed as a raw image that must run at ADDR.
            let load = u64::from_str_radix(l.trim_start_matches("pack-raw@0x"), 16).map_err(|_| "pack-raw address")?;
            let (bytes, _, entry) = crate::image::raw_payload(&imgs.payload_elf)?;
            let kind = hypfw_core::payload::pack::Kind::Raw { load_addr: load as u32, entry_offset: entry };
            let out = tmp.join(format!("{name}.bin"));
            crate::pack_with(kind, &bytes, None, None, &out, false)?;
            vec!["-kernel".into(), out.display().to_string()]
        }
        o => return Err(format!("{name}: unknown image {o}")),
    };
    Ok(s)
}

/// Apply the `key: value` lines to `s`; return the ones that choose the boot.
fn read_keys(s: &mut Scenario, text: &str, imgs: &crate::Images) -> Result<Boot, String> {
    let name = s.name.clone();
    let mut boot = Boot { image: "bin".to_string(), dtb: None, damage: None, prefix: &[], r2: None };
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (k, v) = line.split_once(':').ok_or(format!("{name}: bad line {line}"))?;
        let v = v.trim().to_string();
        match k.trim() {
            "machine" => s.q.machine = v,
            "cpu" => s.q.cpu = v,
            "smp" => s.q.smp = v.parse().map_err(|_| "smp")?,
            "memory" => s.q.mem_mib = v.parse().map_err(|_| "memory")?,
            "image" => boot.image = v,
            "dtb" => boot.dtb = Some(v),
            "r2" => boot.r2 = Some(u32::from_str_radix(v.trim_start_matches("0x"), 16).map_err(|_| "r2: hex")?),
            "entry-state" if v == "caches-on" => boot.prefix = &HSCTLR_CACHES_ON,
            "damage" => {
                let off = v.strip_prefix("pack+").and_then(|o| o.parse::<usize>().ok()).ok_or("damage: pack+N")?;
                boot.damage = Some(imgs.pack_offset + off);
            }
            "exit" if v == "timeout" => s.exit = None,
            "exit" => s.exit = Some(v.parse().map_err(|_| "exit")?),
            "timeout" => s.timeout = v.parse().map_err(|_| "timeout")?,
            "append" => s.q.extra.extend(["-append".to_string(), v]),
            "semihosting" => s.q.semihosting = v != "off",
            "expect" => s.expect.push(v),
            "reject" => s.reject.push(v),
            k => return Err(format!("{name}: unknown key {k}")),
        }
    }
    Ok(boot)
}

/// A copy of `file` with the bits of byte `at` flipped, written to `out`.
fn damaged_copy(file: &std::path::Path, at: usize, out: &std::path::Path) -> Result<String, String> {
    let mut b = std::fs::read(file).map_err(|e| e.to_string())?;
    b[at] ^= 0xFF;
    std::fs::write(out, b).map_err(|e| e.to_string())?;
    Ok(out.display().to_string())
}

/// The scenario's device tree fixture (default `qemu-virt-smp4.dtb`), corrupted or edited as its
/// `dtb:` line says.
fn dtb_blob(boot: &Boot) -> Result<Vec<u8>, String> {
    let mut words = boot.dtb.as_deref().unwrap_or("qemu-virt-smp4.dtb").split_whitespace();
    let dtb_file = words.next().unwrap();
    let mut blob = std::fs::read(root().join("tests/fixtures").join(dtb_file)).map_err(|e| e.to_string())?;
    if let Some(c) = words.next().and_then(|w| w.strip_prefix("corrupt=").or(w.strip_prefix("edit="))) {
        blob = corrupt(blob, c)?;
    }
    Ok(blob)
}

/// `image: loader@[bare:]ADDR`: the raw image at ADDR, the scenario's DTB, and a shim that
/// starts the image as U-Boot's bootz would.
fn loader_args(name: &str, boot: &Boot, file: &str, at: &str, tmp: &std::path::Path) -> Result<Vec<String>, String> {
    let addr = u64::from_str_radix(at.trim_start_matches("0x"), 16).map_err(|_| "loader address")?;
    let blob = dtb_blob(boot)?;
    let dtb_path = tmp.join(format!("{name}.dtb"));
    let shim_path = tmp.join(format!("{name}.shim"));
    std::fs::write(&dtb_path, blob).map_err(|e| e.to_string())?;
    let r2 = boot.r2.unwrap_or(DTB_ADDR as u32);
    std::fs::write(&shim_path, shim_with(boot.prefix, r2, addr as u32)).map_err(|e| e.to_string())?;
    Ok(vec![
        "-device".into(),
        format!("loader,file={},addr={SHIM_ADDR:#x},cpu-num=0,force-raw=on", shim_path.display()),
        "-device".into(),
        format!("loader,file={file},addr={addr:#x},force-raw=on"),
        "-device".into(),
        format!("loader,file={},addr={DTB_ADDR:#x},force-raw=on", dtb_path.display()),
    ])
}

/// `image: u-boot[-bootm|-fit]`: Debian's U-Boot for QEMU as firmware, hypfw.bin on a raw virtio
/// disk, read into RAM and started as on a board: `bootz` with U-Boot's own device tree; `bootm`
/// of a uImage (kernel_noload) with U-Boot's tree; or `bootm` of a FIT that carries hypfw and the
/// tree (`qemu-virt-smp4.dtb`), which U-Boot leaves inside the FIT (`fdt_high` = ~0), wherever
/// that puts it. Returns the QEMU arguments and what to type at U-Boot's prompts.
fn uboot_args(name: &str, bin: &str, how: &str, tmp: &std::path::Path) -> Result<(Vec<String>, PromptScript), String> {
    uboot_args_at(name, bin, how, tmp, 0x4020_0000)
}

/// As [`uboot_args`], with the image read to and started at `addr`.
pub(crate) fn uboot_args_at(
    name: &str,
    bin: &str,
    how: &str,
    tmp: &std::path::Path,
    addr: u32,
) -> Result<(Vec<String>, PromptScript), String> {
    let disk = tmp.join(format!("{name}.disk"));
    std::fs::copy(bin, &disk).map_err(|e| e.to_string())?;
    let (wrap, boot_cmd) = match how {
        "u-boot-bootm" => (crate::Wrap::UImage, format!("bootm {addr:#x} - ${{fdtcontroladdr}}")),
        "u-boot-fit" => {
            (crate::Wrap::Fit(root().join("tests/fixtures/qemu-virt-smp4.dtb")), format!("bootm {addr:#x}"))
        }
        _ => (crate::Wrap::None, format!("bootz {addr:#x} - ${{fdtcontroladdr}}")),
    };
    crate::wrap_for_bootm(&disk, &wrap)?;
    let mut img = std::fs::read(&disk).map_err(|e| e.to_string())?;
    img.resize(img.len().next_multiple_of(512), 0);
    let sectors = img.len() / 512;
    std::fs::write(&disk, img).map_err(|e| e.to_string())?;
    let (load, mut script) = uboot_with_disk(name, &disk)?;
    script.push(("=> ".to_string(), format!("virtio read {addr:#x} 0 {sectors:#x}")));
    if how == "u-boot-fit" {
        script.push(("=> ".to_string(), "setenv fdt_high 0xffffffff".to_string()));
    }
    script.push(("=> ".to_string(), boot_cmd));
    Ok((load, script))
}

/// Debian's U-Boot for QEMU as firmware with `disk` as a virtio disk: the QEMU arguments, and the
/// start of what to type (stop the autoboot, find the disk).
fn uboot_with_disk(name: &str, disk: &std::path::Path) -> Result<(Vec<String>, PromptScript), String> {
    let uboot = "/usr/lib/u-boot/qemu_arm/u-boot.bin";
    if !std::path::Path::new(uboot).exists() {
        return Err(format!("{name}: {uboot} missing; install Debian's u-boot-qemu"));
    }
    let load = vec![
        "-bios".into(),
        uboot.into(),
        "-drive".into(),
        format!("if=none,file={},format=raw,id=d0", disk.display()),
        "-device".into(),
        "virtio-blk-device,drive=d0".into(),
    ];
    let script = vec![
        ("Hit any key to stop autoboot".to_string(), String::new()),
        ("=> ".to_string(), "virtio scan".to_string()),
    ];
    Ok((load, script))
}

/// `image: u-boot-initrd`: Debian's U-Boot for QEMU reads hypfw packed with Debian's kernel but
/// no initrd, and the test initramfs apart, as a board's boot script loads a kernel and a
/// ramdisk, then `bootz KERNEL INITRD:SIZE FDT`. U-Boot names the initrd in /chosen of its tree
/// (and a /memreserve/ for it); hypfw passes it on. It is read to 0x5fe80000, just under the top
/// of the 512 MiB of low memory where hypfw puts the payload's tree when nothing is in the way.
fn uboot_initrd_args(name: &str, tmp: &std::path::Path) -> Result<(Vec<String>, PromptScript), String> {
    const KERNEL_AT: u32 = 0x4040_0000;
    const INITRD_AT: u32 = 0x5fe8_0000;
    const INITRD_SECTOR: usize = (16 << 20) / 512;
    let f = crate::linux::prepare()?;
    let pack = tmp.join(format!("{name}.bin"));
    let args = crate::linux::BOOTARGS.replace("cycles=50", "cycles=2");
    crate::pack_linux(&f.kernel, None, Some(&args), &pack)?;
    let k = std::fs::read(&pack).map_err(|e| e.to_string())?;
    let i = std::fs::read(&f.initrd).map_err(|e| e.to_string())?;
    if k.len() > INITRD_SECTOR * 512 {
        return Err(format!("{name}: the pack is over 16 MiB"));
    }
    let mut disk = k.clone();
    disk.resize(INITRD_SECTOR * 512, 0);
    disk.extend_from_slice(&i);
    disk.resize(disk.len().next_multiple_of(512), 0);
    let path = tmp.join(format!("{name}.disk"));
    std::fs::write(&path, disk).map_err(|e| e.to_string())?;
    let (load, mut script) = uboot_with_disk(name, &path)?;
    script.extend([
        ("=> ".to_string(), format!("virtio read {KERNEL_AT:#x} 0 {:#x}", k.len().div_ceil(512))),
        ("=> ".to_string(), format!("virtio read {INITRD_AT:#x} {INITRD_SECTOR:#x} {:#x}", i.len().div_ceil(512))),
        ("=> ".to_string(), format!("bootz {KERNEL_AT:#x} {INITRD_AT:#x}:{:#x} ${{fdtcontroladdr}}", i.len())),
    ]);
    Ok((load, script))
}

/// `image: bios@ADDR`: firmware-style boot, a shim in flash (where every CPU starts, in Secure
/// SVC with secure=on) passes r2 = QEMU's DTB at the start of RAM and jumps to the image at ADDR.
pub(crate) fn bios_args(name: &str, bin: &str, image: &str, tmp: &std::path::Path) -> Result<Vec<String>, String> {
    bios_args_with(name, bin, image, tmp, 0x4000_0000)
}

/// As [`bios_args`], with r2 = `dtb`.
fn bios_args_with(name: &str, bin: &str, image: &str, tmp: &std::path::Path, dtb: u32) -> Result<Vec<String>, String> {
    let addr = u64::from_str_radix(image.trim_start_matches("bios@0x"), 16).map_err(|_| "bios address")?;
    let shim_path = tmp.join(format!("{name}.bios"));
    std::fs::write(&shim_path, shim(dtb, addr as u32)).map_err(|e| e.to_string())?;
    Ok(vec![
        "-bios".into(),
        shim_path.display().to_string(),
        "-device".into(),
        format!("loader,file={bin},addr={addr:#x},force-raw=on"),
    ])
}

/// `cargo xtask test [SCENARIO...]`: everything, or only the named QEMU scenarios.
pub fn test_all(only: &[String]) -> Result<u8, String> {
    if only.is_empty() {
        eprintln!("xtask: host unit tests");
        let st = Command::new(env!("CARGO"))
            .current_dir(root())
            .args(["test", "--target", "host-tuple", "-p", "hypfw-core", "-p", "hypfw-uart", "-p", "xtask"])
            .status()
            .map_err(|e| e.to_string())?;
        if !st.success() {
            return Err("host unit tests failed".into());
        }
        eprintln!("xtask: board device trees (Debian's armhf kernel package) through `inspect`");
        let (p, f) = crate::inspect::check_boards()?;
        println!("board device trees: {p} passed, {f} failed");
        if f > 0 {
            return Err(format!("{f} board device tree(s) not read as expected"));
        }
    }
    let imgs = build(&BuildOpts { release: true, semihosting: true })?;
    let board = build(&BuildOpts { release: true, semihosting: false })?;
    let tmp = root().join("target/qemu-tests");
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let mut files: Vec<_> = std::fs::read_dir(root().join("tests/qemu"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .filter(|p| only.is_empty() || only.iter().any(|o| p.file_stem().is_some_and(|s| s.to_string_lossy() == *o)))
        .collect();
    files.sort();
    let (mut passed, mut failed) = (0, 0);
    for f in &files {
        let s = parse(f, &imgs, &board, &tmp)?;
        let o = run_captured(&s.q, Duration::from_secs(s.timeout))?;
        let mut why = Vec::new();
        match (o.status, s.exit) {
            (None, Some(_)) => why.push(format!("timed out after {} s", s.timeout)),
            (Some(c), None) => why.push(format!("exit status {c}, expected a halt (no exit before the timeout)")),
            (Some(c), Some(e)) if c != e => why.push(format!("exit status {c}, expected {e}")),
            _ => {}
        }
        for e in &s.expect {
            if !o.output.lines().any(|l| l.contains(e.as_str())) {
                why.push(format!("missing line: {e}"));
            }
        }
        for r in &s.reject {
            if let Some(l) = o.output.lines().find(|l| l.contains(r.as_str())) {
                why.push(format!("unwanted line: {l}"));
            }
        }
        if why.is_empty() {
            passed += 1;
            println!("qemu {} ... ok", s.name);
            if std::env::var_os("HYPFW_TEST_SHOW").is_some() {
                for l in o.output.lines() {
                    println!("    | {l}");
                }
            }
        } else {
            failed += 1;
            println!("qemu {} ... FAILED", s.name);
            for w in &why {
                println!("    {w}");
            }
            println!("    --- console ---");
            for l in o.output.lines() {
                println!("    | {l}");
            }
        }
    }
    println!("qemu boot tests: {passed} passed, {failed} failed");
    // The load-address sweep's quick subset (a whole run only; `cargo xtask sweep`: all of it).
    if only.is_empty() {
        failed += crate::sweep::run(true, 2, &[], &imgs)?.1;
    }
    // The deterministic figures against docs/performance.md (a whole run only).
    let perf_ok = !only.is_empty() || crate::qemu::guard()?;
    Ok(if failed == 0 && perf_ok { 0 } else { 1 })
}
