//! Link the firmware binary with hypfw's own linker script (static, not a PIE: the image carries its own
//! relocation table, see linker.ld).
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=boot");
    // The relocation table's size in the image: `cargo xtask build` sizes it to what the link
    // needs (see xtask's `build`); a plain `cargo build` gets room enough for any layout.
    println!("cargo:rerun-if-env-changed=HYPFW_RELOC_TABLE_BYTES");
    let bytes = std::env::var("HYPFW_RELOC_TABLE_BYTES").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(16384);
    println!("cargo:rustc-env=HYPFW_RELOC_TABLE_BYTES={}", bytes.next_multiple_of(4));
    if target.starts_with("armv7a-none") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        let script = std::fs::read_to_string(format!("{dir}/linker.ld")).expect("linker.ld");
        // What lies between the release-only markers is left out of a debug build: the boot-only
        // placement counts on release's inlining (without it, small shared helpers and core's
        // generic glue are called, not inlined, and `cargo xtask build` would find resident
        // code calling into the boot-only text), so a debug build keeps everything resident,
        // and then its resident image may pass the release budget's bound.
        let mut script = script;
        // `cargo xtask build` keeps a directory per build flavour for what one link tells the
        // next: the map file, and the boot-only read-only input sections it found there. A new
        // list must relink: its digest is a rustc-env of the crate (read in src/arch/armv7/asm.rs).
        println!("cargo:rerun-if-env-changed=HYPFW_LINK_DIR");
        if let Ok(link_dir) = std::env::var("HYPFW_LINK_DIR") {
            let list = format!("{link_dir}/boot-rodata.ld");
            println!("cargo:rerun-if-changed={list}");
            let lines = std::fs::read_to_string(&list).unwrap_or_default();
            assert!(
                lines.lines().all(|l| l.trim().starts_with("*(.rodata.") && l.trim().ends_with(')')),
                "{list}: input section patterns only"
            );
            script = script.replace("/* hypfw: boot-only read-only data */", &lines);
            let digest =
                lines.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
            println!("cargo:rustc-env=HYPFW_BOOT_RODATA={digest:016x}");
            println!("cargo:rustc-link-arg-bins=-Map={link_dir}/hypfw.map");
        }
        if std::env::var("PROFILE").as_deref() != Ok("release") {
            while let Some((head, rest)) = script.split_once("/* release-only: begin */") {
                let (_, tail) = rest.split_once("/* release-only: end */").expect("release-only end marker");
                script = format!("{head}{tail}");
            }
        }
        let out = std::env::var("OUT_DIR").unwrap();
        std::fs::write(format!("{out}/linker.ld"), script).expect("write linker.ld");
        println!("cargo:rustc-link-arg-bins=-T{out}/linker.ld");
        println!("cargo:rustc-link-arg-bins=--emit-relocs");
    }
}
