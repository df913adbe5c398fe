//! `cargo xtask <command>`: the one entry point for hypfw's developer tasks.
//!
//! ```text
//! build [--debug] [--board]   build target/image/hypfw.{elf,bin} and hypfw-bare.bin
//!                             (--debug: in target/image/debug/, --board: in .../board/)
//!                             (--board: no semihosting)
//! pack (--kernel ZIMAGE | --elf F | --raw F --load-addr A [--entry E]) [--initrd F]
//!      [--bootargs S] [-o OUT] [--board] [--uimage | --fit DTB]
//!                             hypfw + a payload (+ initrd, command line) in one file
//! run [--gdb] [--elf] [--smp N] [-m MiB] [--secure] [--cpu NAME] [-- QEMU ARGS]
//!                             build and boot under QEMU virt (cortex-a15)
//! test [SCENARIO...]          host unit tests, then every QEMU scenario in tests/qemu/ and the
//!                             quick load-address sweep (or only the named scenarios)
//! bench                       instruction counts under -icount shift=0
//! bench --linux [--pairs N] [--image PACKED.bin]
//!                             Linux under hypfw vs booted directly: the hotplug instruction
//!                             count ratio (-icount), boot and hotplug QEMU CPU time ratios,
//!                             hypfw's instructions before the kernel, exits per CPU
//! rooms                       the imports between the crates' rooms, checked against the rules
//! inspect FILE.dtb...         what hypfw would use on that board, as JSON
//! fuzz [--execs N] [--seed S] [--target NAME]
//!                             the parsers and decoders on mutated inputs (see xtask/src/fuzz.rs)
//! sweep [--quick] [--jobs N] [FILTER...]
//!                             the packed image started at many load addresses (xtask/src/sweep.rs)
//! soak [--cycles N]           Linux on 4 CPUs, N (1,000) CPU offline/online cycles, hypfw's
//!                             counters and memory figures checked (xtask/src/linux.rs)
//! qemu-elf ELF                cargo runner: post-process a linked ELF and boot it
//! ```

mod fuzz;
mod image;
mod inspect;
mod linux;
mod linuxbench;
mod qemu;
mod rooms;
mod scenarios;
mod sweep;
mod uboot;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn image_dir() -> PathBuf {
    root().join("target/image")
}

pub struct BuildOpts {
    pub release: bool,
    pub semihosting: bool,
}

/// The image files of one build.
pub struct Images {
    /// hypfw alone, as an ELF (for QEMU's ELF loader and gdb).
    pub elf: PathBuf,
    /// hypfw alone, raw: without a payload the runtime runs its own HYP self-test.
    pub bare: PathBuf,
    /// hypfw with the built-in self-test payload packed behind it: the default image.
    pub bin: PathBuf,
    /// Offset of the pack in `bin`.
    pub pack_offset: usize,
    /// The self-test payload's ELF.
    pub payload_elf: PathBuf,
}

/// The firmware's target triple.
pub const TARGET: &str = "armv7a-none-eabi";

/// Is `target`'s standard library installed for the toolchain this checkout pins?
fn target_installed(target: &str) -> bool {
    let out = Command::new("rustc").current_dir(root()).args(["--print", "target-libdir", "--target", target]).output();
    let Ok(out) = out else { return false };
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    std::fs::read_dir(dir)
        .is_ok_and(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-"))))
}

/// rust-toolchain.toml names the firmware's target, but rustup adds the targets listed there only
/// when it installs the toolchain: a toolchain installed before (or by another project) without
/// it builds nothing ("can't find crate for `core`"). Add it, as a new user would be told to.
pub fn ensure_target(target: &str) -> Result<(), String> {
    if target_installed(target) {
        return Ok(());
    }
    eprintln!("xtask: the {target} target is not installed for this toolchain; adding it with rustup");
    let st = Command::new("rustup")
        .current_dir(root())
        .args(["target", "add", target])
        .status()
        .map_err(|e| format!("rustup: {e} (install the target with `rustup target add {target}`)"))?;
    if !st.success() || !target_installed(target) {
        return Err(format!("could not add the {target} target (try `rustup target add {target}`)"));
    }
    Ok(())
}

/// Build hypfw and the self-test payload and write the image files to target/image/.
pub fn build(o: &BuildOpts) -> Result<Images, String> {
    ensure_target(TARGET)?;
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(root()).args(["build", "--quiet", "--target", TARGET]);
    c.args(["-p", "hypfw", "-p", "hypfw-selftest-payload", "--bins"]);
    if o.release {
        c.arg("--release");
    }
    // The two flavours build into separate target directories, so switching between them does
    // not rebuild everything each time.
    let target_dir = if o.semihosting { root().join("target") } else { root().join("target/board-build") };
    c.arg("--target-dir").arg(&target_dir);
    if o.semihosting {
        c.args(["--features", "hypfw/semihosting"]);
    }
    let dir = target_dir.join("armv7a-none-eabi").join(if o.release { "release" } else { "debug" });
    // The relocation table is sized to what the link needs: build with the size that fitted last
    // time, and relink once more, with the exact size, when the table would not fit or would waste
    // 64 bytes or more (the boot-only text ends on a page boundary, so a few hundred bytes of slack
    // can cost the file a page). The size is kept per target directory.
    let size_file = target_dir.join(if o.release { "reloc-table-bytes" } else { "reloc-table-bytes-debug" });
    let mut size: usize = std::fs::read_to_string(&size_file).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(8192);
    // The read-only data only the boot-only text refers to goes before the resident copy too:
    // each link's map and relocations give the list for the next (`image::boot_only_rodata`);
    // linker.ld takes it in release builds only.
    let link_dir = target_dir.join(if o.release { "link" } else { "link-debug" });
    std::fs::create_dir_all(&link_dir).map_err(|e| e.to_string())?;
    let list_file = link_dir.join("boot-rodata.ld");
    c.env("HYPFW_LINK_DIR", &link_dir);
    for attempt in 0.. {
        c.env("HYPFW_RELOC_TABLE_BYTES", size.to_string());
        let st = c.status().map_err(|e| format!("cargo: {e}"))?;
        if !st.success() {
            return Err("firmware build failed".into());
        }
        let (need, have) = image::reloc_table_fit(&dir.join("hypfw"))?;
        let list = match o.release {
            true => image::boot_only_rodata(&dir.join("hypfw"), &link_dir.join("hypfw.map"))?
                .iter()
                .map(|n| format!("        *({n})\n"))
                .collect::<String>(),
            false => String::new(),
        };
        let list_same = std::fs::read_to_string(&list_file).unwrap_or_default() == list;
        if need <= have && have - need < 64 && list_same {
            break;
        }
        if attempt == 4 {
            return Err(format!(
                "after 4 relinks: the relocation table needs {need} bytes and the image has {have}; the boot-only \
                 read-only data's list is {}",
                if list_same { "settled" } else { "still changing" }
            ));
        }
        if !list_same {
            std::fs::write(&list_file, list).map_err(|e| e.to_string())?;
        }
        size = need;
        std::fs::write(&size_file, size.to_string()).map_err(|e| e.to_string())?;
    }
    // Debug builds beside the release ones, not over them (the suite boots both).
    let out_dir = match (o.semihosting, o.release) {
        (true, true) => image_dir(),
        (false, true) => image_dir().join("board"),
        (true, false) => image_dir().join("debug"),
        (false, false) => image_dir().join("board-debug"),
    };
    let (elf, bare, img) = write_bare(&dir.join("hypfw"), &out_dir)?;
    let (payload, load, entry, relocs) = image::relocatable_payload(&dir.join("hypfw-selftest-payload"))?;
    let kind = hypfw_core::payload::pack::Kind::Relocatable { link_addr: load, entry_offset: entry };
    let pack = hypfw_core::payload::pack::build_with_relocs(kind, &payload, None, None, Some(&relocs));
    let packed = image::with_pack(&img.bin, img.image_end, &pack)?;
    let bin = out_dir.join("hypfw.bin");
    std::fs::write(&bin, &packed).map_err(|e| e.to_string())?;
    eprintln!(
        "xtask: {} ({} bytes: hypfw + self-test payload of {} bytes at {load:#x})",
        bin.display(),
        packed.len(),
        payload.len()
    );
    Ok(Images { elf, bare, bin, pack_offset: img.image_end, payload_elf: dir.join("hypfw-selftest-payload") })
}

/// Write hypfw.elf and hypfw-bare.bin from a linked ELF.
pub fn write_bare(elf: &Path, dir: &Path) -> Result<(PathBuf, PathBuf, image::Image), String> {
    let img = image::make(elf)?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let (e, b) = (dir.join("hypfw.elf"), dir.join("hypfw-bare.bin"));
    std::fs::write(&e, &img.elf).map_err(|e| e.to_string())?;
    std::fs::write(&b, &img.bin).map_err(|e| e.to_string())?;
    eprintln!(
        "xtask: {} ({} bytes, {} absolute words + {} MOVT relocations), {}",
        b.display(),
        img.bin.len(),
        img.relocs.0,
        img.relocs.1,
        e.display()
    );
    Ok((e, b, img))
}

/// What `cargo xtask pack` puts behind hypfw.
pub enum PayloadFile {
    /// A Linux zImage (position independent: hypfw places it).
    ZImage(PathBuf),
    /// An ELF, placed at its physical addresses and entered at its entry point.
    Elf(PathBuf),
    /// A raw binary that must run at `load`, entered at `entry`.
    Raw { file: PathBuf, load: Option<u64>, entry: Option<u64> },
}

/// `cargo xtask pack (--kernel ZIMAGE | --elf FILE | --raw FILE --load-addr A [--entry E])
/// [--initrd FILE] [--bootargs ARGS] [-o OUT] [--board]`: hypfw with a payload behind it.
fn pack_cmd(args: &[String]) -> Result<u8, String> {
    let (mut payload, mut initrd, mut bootargs, mut out) = (None, None, None, image_dir().join("hypfw-linux.bin"));
    let (mut load, mut entry) = (None, None);
    let mut board = false;
    let mut wrap = Wrap::None;
    let num = |v: String| {
        let h = v.trim_start_matches("0x");
        u64::from_str_radix(h, 16).map_err(|_| format!("{v}: not a hex address"))
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--kernel" => payload = Some(PayloadFile::ZImage(PathBuf::from(val()?))),
            "--elf" => payload = Some(PayloadFile::Elf(PathBuf::from(val()?))),
            "--raw" => payload = Some(PayloadFile::Raw { file: PathBuf::from(val()?), load: None, entry: None }),
            "--load-addr" => load = Some(num(val()?)?),
            "--entry" => entry = Some(num(val()?)?),
            "--initrd" => initrd = Some(PathBuf::from(val()?)),
            "--bootargs" => bootargs = Some(val()?),
            "-o" => out = PathBuf::from(val()?),
            "--board" => board = true,
            "--uimage" => wrap = Wrap::UImage,
            "--fit" => wrap = Wrap::Fit(PathBuf::from(val()?)),
            o => return Err(format!("unknown option {o}")),
        }
    }
    let payload = match payload
        .ok_or("a payload is required: --kernel ZIMAGE, --elf FILE or --raw FILE --load-addr A")?
    {
        PayloadFile::Raw { file, .. } => PayloadFile::Raw { file, load, entry },
        p if load.is_some() || entry.is_some() => {
            let _ = p;
            return Err("--load-addr and --entry go with --raw (a zImage is placed by hypfw, an ELF says where)".into());
        }
        p => p,
    };
    let (kind, bytes) = payload_of(&payload)?;
    let i = initrd.map(|p| std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))).transpose()?;
    pack_with(kind, &bytes, i.as_deref(), bootargs.as_deref(), &out, board)?;
    wrap_for_bootm(&out, &wrap)?;
    Ok(0)
}

/// How `pack` wraps its output for U-Boot.
pub enum Wrap {
    /// The file as it is: `bootz` takes its zImage header.
    None,
    /// A legacy uImage, for `bootm ADDR - FDT`.
    UImage,
    /// A FIT with this device tree, for `bootm ADDR`.
    Fit(PathBuf),
}

/// Rewrite `file` (a packed image) in the wrapping `w` asks for.
pub fn wrap_for_bootm(file: &Path, w: &Wrap) -> Result<(), String> {
    let data = || std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()));
    let out = match w {
        Wrap::None => return Ok(()),
        Wrap::UImage => uboot::uimage(&data()?, "hypfw"),
        Wrap::Fit(dtb) => uboot::fit(&data()?, &std::fs::read(dtb).map_err(|e| format!("{}: {e}", dtb.display()))?),
    };
    std::fs::write(file, out).map_err(|e| e.to_string())?;
    eprintln!("xtask: {} wrapped for U-Boot's bootm", file.display());
    Ok(())
}

/// The pack kind and bytes of a payload file, refusing what hypfw could never run: an entry point
/// outside the payload, or an image that ends beyond 4 GiB. (One that must run where hypfw's
/// region lies on the board is refused at boot, with the region named.)
pub fn payload_of(p: &PayloadFile) -> Result<(hypfw_core::payload::pack::Kind, Vec<u8>), String> {
    use hypfw_core::payload::pack::Kind;
    let read = |f: &Path| std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()));
    let raw = |bytes: Vec<u8>, load: u64, entry: u64| -> Result<(Kind, Vec<u8>), String> {
        let end = load + bytes.len() as u64;
        if !load.is_multiple_of(4) {
            return Err(format!("load address {load:#x} is not 4-byte aligned"));
        }
        if !(load..end).contains(&(entry & !1)) {
            return Err(format!("entry {entry:#x} is outside the payload {load:#x}..{end:#x}"));
        }
        if end > 1 << 32 {
            return Err(format!("the payload {load:#x}..{end:#x} ends beyond 4 GiB"));
        }
        Ok((Kind::Raw { load_addr: load as u32, entry_offset: (entry - load) as u32 }, bytes))
    };
    match p {
        PayloadFile::ZImage(f) => {
            let k = read(f)?;
            hypfw_core::payload::zimage::image_size(&k).map_err(|e| format!("{} is not a zImage: {e}", f.display()))?;
            Ok((Kind::ZImage, k))
        }
        PayloadFile::Elf(f) => {
            let (bytes, load, entry) = image::raw_payload(f)?;
            raw(bytes, load as u64, load as u64 + entry as u64)
        }
        PayloadFile::Raw { file, load, entry } => {
            let load = load.ok_or("--raw needs --load-addr")?;
            raw(read(file)?, load, entry.unwrap_or(load))
        }
    }
}

pub fn pack_linux(kernel: &Path, initrd: Option<&Path>, bootargs: Option<&str>, out: &Path) -> Result<(), String> {
    let (kind, k) = payload_of(&PayloadFile::ZImage(kernel.to_path_buf()))?;
    let i = initrd.map(|p| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))).transpose()?;
    pack_with(kind, &k, i.as_deref(), bootargs, out, false)
}

/// hypfw (`board`: the build without semihosting, power-off and errors through PSCI or a halt,
/// as on a board without a debugger attached) with a payload pack behind it, written to `out`.
pub fn pack_with(
    kind: hypfw_core::payload::pack::Kind,
    payload: &[u8],
    initrd: Option<&[u8]>,
    bootargs: Option<&str>,
    out: &Path,
    board: bool,
) -> Result<(), String> {
    let imgs = build(&BuildOpts { release: true, semihosting: !board })?;
    let img = image::make(&imgs.elf)?;
    let pack = hypfw_core::payload::pack::build(kind, payload, initrd, bootargs);
    let packed = image::with_pack(&img.bin, img.image_end, &pack)?;
    std::fs::write(out, &packed).map_err(|e| e.to_string())?;
    eprintln!(
        "xtask: {} ({} bytes: hypfw + payload {} bytes + initrd {} bytes)",
        out.display(),
        packed.len(),
        payload.len(),
        initrd.map_or(0, |i| i.len())
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("build") => {
            let board = args.iter().any(|a| a == "--board");
            build(&BuildOpts { release: !args.iter().any(|a| a == "--debug"), semihosting: !board }).map(|_| 0)
        }
        Some("pack") => pack_cmd(&args[1..]),
        Some("run") => qemu::run_cmd(&args[1..]),
        Some("qemu-elf") => qemu::runner(&args[1..]),
        Some("test") => scenarios::test_all(&args[1..]),
        Some("bench") if args.iter().any(|a| a == "--linux") => {
            linuxbench::parse(&args[1..]).and_then(|o| linuxbench::bench_linux(&o))
        }
        Some("bench") => qemu::bench(),
        Some("rooms") => rooms::check(&root(), true).map(|()| 0),
        Some("inspect") => inspect::cmd(&args[1..]),
        Some("fuzz") => fuzz::cmd(&args[1..]),
        Some("sweep") => sweep::cmd(&args[1..]),
        Some("soak") => linux::soak(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask build|pack|run|test|bench|rooms|qemu-elf (see xtask/src/main.rs)");
            Ok(2)
        }
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check that lets `cargo xtask run` work on a toolchain installed without the target.
    #[test]
    fn payloads_hypfw_could_never_run_are_refused_at_pack_time() {
        let dir = std::env::temp_dir().join(format!("hypfw-pack-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("p.bin");
        std::fs::write(&f, vec![0u8; 0x1000]).unwrap();
        let raw = |load: u64, entry: Option<u64>| PayloadFile::Raw { file: f.clone(), load: Some(load), entry };
        assert!(payload_of(&raw(0x8000_0000, None)).is_ok());
        let e = payload_of(&raw(0x8000_0000, Some(0x8000_2000))).unwrap_err();
        assert!(e.contains("outside the payload"), "{e}");
        let e = payload_of(&raw(0x8000_0002, None)).unwrap_err();
        assert!(e.contains("not 4-byte aligned"), "{e}");
        // Above 0xC000_0000 is payload RAM on boards whose RAM starts there (STM32MP1): the HYP
        // VA window is not an address of the payload's.
        assert!(payload_of(&raw(0xC200_0000, None)).is_ok());
        let e = payload_of(&raw(0xFFFF_F800, None)).unwrap_err();
        assert!(e.contains("ends beyond 4 GiB"), "{e}");
        assert!(payload_of(&PayloadFile::Raw { file: f.clone(), load: None, entry: None }).is_err());
        let e = payload_of(&PayloadFile::ZImage(f.clone())).unwrap_err();
        assert!(e.contains("is not a zImage"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn installed_targets_are_recognised() {
        assert!(target_installed(TARGET), "CI installs the pinned toolchain with {TARGET}");
        assert!(!target_installed("no-such-target-none-eabi"));
    }
}
