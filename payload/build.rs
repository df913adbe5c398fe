//! Link the self-test payload at its fixed load address (see link.ld).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-changed=src/entry.S");
    if std::env::var("TARGET").unwrap_or_default().starts_with("armv7a-none") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
    }
}
