//! `cargo xtask <command>`: the one entry point for hypfw's developer tasks.
//!
//! ```text
//! build [--debug] [--board]   build target/image/hypfw.{elf,bin} (--board: no semihosting)
//! run [--gdb] [--elf] [--smp N] [-m MiB] [--secure] [-- QEMU ARGS]
//!                             build and boot under QEMU virt (cortex-a15)
//! test                        host unit tests, then every QEMU scenario in tests/qemu/
//! bench                       instruction counts under -icount shift=0
//! qemu-elf ELF                cargo runner: post-process a linked ELF and boot it
//! ```

mod image;
mod qemu;
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

/// Build the firmware and write the image files. Returns (elf, bin) paths.
pub fn build(o: &BuildOpts) -> Result<(PathBuf, PathBuf), String> {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(root()).args(["build", "--quiet", "-p", "hypfw", "--bin", "hypfw", "--target", "armv7a-none-eabi"]);
    if o.release {
        c.arg("--release");
    }
    if o.semihosting {
        c.args(["--features", "semihosting"]);
    }
    let st = c.status().map_err(|e| format!("cargo: {e}"))?;
    if !st.success() {
        return Err("firmware build failed".into());
    }
    let elf = root().join("target/armv7a-none-eabi").join(if o.release { "release" } else { "debug" }).join("hypfw");
    write_image(&elf, &image_dir())
}

pub fn write_image(elf: &Path, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let img = image::make(elf)?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let (e, b) = (dir.join("hypfw.elf"), dir.join("hypfw.bin"));
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
    Ok((e, b))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("build") => {
            let board = args.iter().any(|a| a == "--board");
            build(&BuildOpts { release: !args.iter().any(|a| a == "--debug"), semihosting: !board }).map(|_| 0)
        }
        Some("run") => qemu::run_cmd(&args[1..]),
        Some("qemu-elf") => qemu::runner(&args[1..]),
        Some("test") => scenarios::test_all(),
        Some("bench") => qemu::bench(),
        _ => {
            eprintln!("usage: cargo xtask build|run|test|bench|qemu-elf (see xtask/src/main.rs)");
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
