//! Link the self-test payload at its link address (see link.ld), keeping its relocations.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=src/entry.S");
    if std::env::var("TARGET").unwrap_or_default().starts_with("armv7a-none") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
        // The relocations stay in the ELF: `cargo xtask build` makes the payload's relocation
        // table from them, so hypfw can run it wherever the board's RAM is.
        println!("cargo:rustc-link-arg-bins=--emit-relocs");
    }
}
