//! Link the firmware binary with hypfw's own linker script (static, not a PIE: the image carries its own
//! relocation table, see linker.ld).
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=boot");
    if target.starts_with("armv7a-none") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
        println!("cargo:rustc-link-arg-bins=--emit-relocs");
    }
}
