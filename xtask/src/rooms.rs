//! `cargo xtask rooms`: the imports between the rooms of hypfw's two crates, and a check that
//! every arrow points the way `docs/architecture.md` says. A room is a top-level module (a
//! folder or a file directly under `src/`); an import is any `crate::ROOM` path in its files
//! (`use` lines and paths in code alike), and `crate::log!`/`crate::detail!`/`crate::fatal!` count as imports of
//! the rooms that define them. `cargo xtask test` runs the check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A crate's rooms and, for each, the rooms it may import.
struct Rules {
    name: &'static str,
    dir: &'static str,
    allowed: &'static [(&'static str, &'static [&'static str])],
}

const CORE: Rules = Rules {
    name: "hypfw-core",
    dir: "core/src",
    allowed: &[
        ("lib", &["abi", "mm", "platform", "payload", "services", "rng"]),
        ("rng", &[]),
        ("mm", &[]),
        ("abi", &["mm"]),
        ("platform", &["mm", "abi"]),
        ("payload", &["mm", "abi", "platform"]),
        ("services", &["mm", "abi", "platform"]),
    ],
};

const FIRMWARE: Rules = Rules {
    name: "hypfw (firmware)",
    dir: "src",
    allowed: &[
        ("main", &["arch", "base", "drivers", "runtime", "setup", "shared"]),
        ("arch", &[]),
        ("drivers", &["arch"]),
        ("base", &["drivers", "arch"]),
        ("shared", &[]),
        ("setup", &["shared", "base", "drivers", "arch"]),
        ("runtime", &["shared", "base", "drivers", "arch"]),
    ],
};

/// Room of a path below the crate's source folder.
fn room_of(rel: &Path) -> String {
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The rooms named by `crate::X` paths in `text` (the macros count as their rooms).
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        if text[..i].ends_with('$') {
            continue; // inside a macro definition: the expansion site is what counts
        }
        let name: String = text[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let room = match name.as_str() {
            "log" | "detail" => "drivers".to_string(),
            "fatal" => "base".to_string(),
            "" => continue,
            n => n.to_string(),
        };
        out.insert(room);
    }
    // `use crate::{a, b}` groups.
    for (i, _) in text.match_indices("crate::{") {
        let end = text[i..].find('}').map_or(text.len(), |e| i + e);
        for part in text[i + 8..end].split(',') {
            let name = part.trim().split("::").next().unwrap_or("").trim();
            match name {
                "log" | "detail" => out.insert("drivers".to_string()),
                "fatal" => out.insert("base".to_string()),
                "" | "self" => false,
                n => out.insert(n.to_string()),
            };
        }
    }
    out.remove("{");
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Room -> rooms it imports, for one crate.
fn graph(root: &Path, r: &Rules) -> BTreeMap<String, BTreeSet<String>> {
    let base = root.join(r.dir);
    let mut files = Vec::new();
    rust_files(&base, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let room = room_of(f.strip_prefix(&base).unwrap());
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let entry = g.entry(room.clone()).or_default();
        for to in imports(&text) {
            if to != room {
                entry.insert(to);
            }
        }
    }
    g
}

/// Arrows the rules do not allow (or rooms they do not know), as readable lines.
fn violations(r: &Rules, g: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut bad = Vec::new();
    for (from, tos) in g {
        let Some((_, allowed)) = r.allowed.iter().find(|(n, _)| n == from) else {
            bad.push(format!("{}: room `{from}` is not in the room rules (xtask/src/rooms.rs)", r.name));
            continue;
        };
        for to in tos {
            if !allowed.contains(&to.as_str()) {
                bad.push(format!("{}: `{from}` imports `{to}`, which it may not", r.name));
            }
        }
    }
    bad
}

/// Files of the firmware outside `arch` that write `asm!` (the arch seam is the only place).
fn asm_outside_arch(root: &Path) -> Vec<String> {
    let base = root.join(FIRMWARE.dir);
    let mut files = Vec::new();
    rust_files(&base, &mut files);
    files
        .iter()
        .filter(|f| room_of(f.strip_prefix(&base).unwrap()) != "arch")
        .filter(|f| std::fs::read_to_string(f).unwrap_or_default().contains("asm!("))
        .map(|f| format!("{}: `asm!` outside src/arch", f.strip_prefix(root).unwrap().display()))
        .collect()
}

/// (unsafe blocks, unsafe fns, unsafe impls) in the Rust files below `dir`, test code included.
fn unsafe_counts(dir: &Path) -> (usize, usize, usize) {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    let text: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap_or_default()).collect();
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    (code.matches("unsafe {").count(), code.matches("unsafe fn").count(), code.matches("unsafe impl").count())
}

/// Print both graphs; Err with every violation.
pub fn check(root: &Path, print: bool) -> Result<(), String> {
    let mut bad = asm_outside_arch(root);
    for r in [&CORE, &FIRMWARE] {
        let g = graph(root, r);
        if print {
            println!("{} ({}):", r.name, r.dir);
            for (from, tos) in &g {
                let tos: Vec<_> = tos.iter().map(String::as_str).collect();
                println!("  {from:<9} -> {}", if tos.is_empty() { "(nothing)".to_string() } else { tos.join(", ") });
            }
        }
        bad.extend(violations(r, &g));
    }
    if print {
        println!("unsafe (blocks, fns, impls):");
        for (name, dir) in [
            ("hypfw-core", "core/src"),
            ("hypfw (firmware)", "src"),
            ("hypfw-uart", "uart/src"),
            ("self-test payload", "payload/src"),
        ] {
            let (b, f, i) = unsafe_counts(&root.join(dir));
            println!("  {name:<18} {b} blocks, {f} unsafe fns, {i} unsafe impls");
        }
    }
    if bad.is_empty() {
        if print {
            println!(
                "every import points the allowed way; asm! only in src/arch; hypfw-core cannot import the firmware"
            );
        }
        Ok(())
    } else {
        Err(bad.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_groups_and_macros_are_imports() {
        let t = "use crate::arch::{self, regs};\nuse crate::{fatal, log};\nlet x = crate::shared::PERCPU;\n\
                 macro_rules! m { () => { $crate::base::stop::fatal() } }";
        let got: Vec<_> = imports(t).into_iter().collect();
        assert_eq!(got, ["arch", "base", "drivers", "shared"]);
    }

    #[test]
    fn a_wrong_arrow_is_reported() {
        let mut g = BTreeMap::new();
        g.insert("setup".to_string(), BTreeSet::from(["runtime".to_string(), "shared".to_string()]));
        g.insert("arch".to_string(), BTreeSet::new());
        let v = violations(&FIRMWARE, &g);
        assert_eq!(v, ["hypfw (firmware): `setup` imports `runtime`, which it may not"]);
    }

    /// The tree as it is obeys the rules.
    #[test]
    fn the_tree_obeys_the_rules() {
        check(&crate::root(), false).unwrap();
    }
}
