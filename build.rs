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
        println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
        println!("cargo:rustc-link-arg-bins=--emit-relocs");
    }
}
