//! `cargo xtask <command>`: the one entry point for hypfw's developer tasks.
//!
//! ```text
//! build [--debug] [--board]   build target/image/hypfw.{elf,bin} and hypfw-bare.bin
//!                             (--board: no semihosting)
//! pack --kernel F [--initrd F] [--bootargs S] [-o OUT] [--board]
//!                             hypfw + a Linux zImage (+ initrd, command line) in one file
//! run [--gdb] [--elf] [--smp N] [-m MiB] [--secure] [--cpu NAME] [-- QEMU ARGS]
//!                             build and boot under QEMU virt (cortex-a15)
//! test [SCENARIO...]          host unit tests, then every QEMU scenario in tests/qemu/ (or
//!                             only the named scenarios)
//! bench                       instruction counts under -icount shift=0
//! bench --linux               Linux boot time under hypfw vs direct, exits per CPU
//! rooms                       the imports between the crates' rooms, checked against the rules
//! inspect FILE.dtb...         what hypfw would use on that board, as JSON
//! qemu-elf ELF                cargo runner: post-process a linked ELF and boot it
//! ```

mod image;
mod inspect;
mod linux;
mod qemu;
mod rooms;
mod scenarios;

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
    let st = c.status().map_err(|e| format!("cargo: {e}"))?;
    if !st.success() {
        return Err("firmware build failed".into());
    }
    let dir = target_dir.join("armv7a-none-eabi").join(if o.release { "release" } else { "debug" });
    let out_dir = if o.semihosting { image_dir() } else { image_dir().join("board") };
    let (elf, bare, img) = write_bare(&dir.join("hypfw"), &out_dir)?;
    let (payload, load, entry) = image::raw_payload(&dir.join("hypfw-selftest-payload"))?;
    let pack = hypfw_core::payload::pack::build(
        hypfw_core::payload::pack::Kind::Raw { load_addr: load, entry_offset: entry },
        &payload,
        None,
        None,
    );
    let packed = image::with_pack(&img.bin, img.image_end, &pack)?;
    let bin = out_dir.join("hypfw.bin");
    std::fs::write(&bin, &packed).map_err(|e| e.to_string())?;
    eprintln!(
        "xtask: {} ({} bytes: hypfw + self-test payload of {} bytes at {load:#x})",
        bin.display(),
        packed.len(),
        payload.len()
    );
    Ok(Images { elf, bare, bin, pack_offset: img.image_end })
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

/// `cargo xtask pack --kernel FILE [--initrd FILE] [--bootargs ARGS] [-o OUT]`: hypfw with a
/// Linux zImage (or any position-independent kernel) behind it.
fn pack_cmd(args: &[String]) -> Result<u8, String> {
    let (mut kernel, mut initrd, mut bootargs, mut out) = (None, None, None, image_dir().join("hypfw-linux.bin"));
    let mut board = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--kernel" => kernel = Some(PathBuf::from(val()?)),
            "--initrd" => initrd = Some(PathBuf::from(val()?)),
            "--bootargs" => bootargs = Some(val()?),
            "-o" => out = PathBuf::from(val()?),
            "--board" => board = true,
            o => return Err(format!("unknown option {o}")),
        }
    }
    let kernel = kernel.ok_or("--kernel FILE is required")?;
    pack_linux_with(&kernel, initrd.as_deref(), bootargs.as_deref(), &out, board)?;
    Ok(0)
}

pub fn pack_linux(kernel: &Path, initrd: Option<&Path>, bootargs: Option<&str>, out: &Path) -> Result<(), String> {
    pack_linux_with(kernel, initrd, bootargs, out, false)
}

/// As [`pack_linux`]; `board`: the build without semihosting (power-off and errors through PSCI
/// or a halt, as on a board without a debugger attached).
fn pack_linux_with(
    kernel: &Path,
    initrd: Option<&Path>,
    bootargs: Option<&str>,
    out: &Path,
    board: bool,
) -> Result<(), String> {
    let imgs = build(&BuildOpts { release: true, semihosting: !board })?;
    let k = std::fs::read(kernel).map_err(|e| format!("{}: {e}", kernel.display()))?;
    hypfw_core::payload::zimage::image_size(&k).map_err(|e| format!("{} is not a zImage: {e:?}", kernel.display()))?;
    let i = initrd.map(|p| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))).transpose()?;
    let img = image::make(&imgs.elf)?;
    let pack = hypfw_core::payload::pack::build(hypfw_core::payload::pack::Kind::ZImage, &k, i.as_deref(), bootargs);
    let packed = image::with_pack(&img.bin, img.image_end, &pack)?;
    std::fs::write(out, &packed).map_err(|e| e.to_string())?;
    eprintln!(
        "xtask: {} ({} bytes: hypfw + kernel {} bytes + initrd {} bytes)",
        out.display(),
        packed.len(),
        k.len(),
        i.map_or(0, |i| i.len())
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
        Some("bench") if args.iter().any(|a| a == "--linux") => qemu::bench_linux(),
        Some("bench") => qemu::bench(),
        Some("rooms") => rooms::check(&root(), true).map(|()| 0),
        Some("inspect") => inspect::cmd(&args[1..]),
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
    fn installed_targets_are_recognised() {
        assert!(target_installed(TARGET), "CI installs the pinned toolchain with {TARGET}");
        assert!(!target_installed("no-such-target-none-eabi"));
    }
}
