//! `cargo xtask fuzz [--execs N] [--seed S] [--target NAME]`: hypfw's parsers and decoders fed
//! mutated inputs, reproducibly from a seed. Everything the boot phase reads from a bootloader or
//! a file (device trees, the pack, the zImage header, the relocation table) and everything the
//! runtime decodes from the payload (HSR values, HVC and PSCI calls) runs here on the host, in the
//! same `hypfw-core` code the firmware runs; a panic is a crash, saved with its seed under
//! `target/fuzz-crashes/` to become a regression test. Invariants are checked too: the services
//! must answer every call, zero what they do not return, and refuse bad targets.
//!
//! Not coverage-guided (cargo-fuzz needs a nightly toolchain; this project builds with a pinned
//! stable one): the mutations start from real inputs (the fixture trees, packs and tables hypfw
//! uses) and are structure-aware where that matters (lengths, offsets, tokens).

use hypfw_core::abi::reloc;
use hypfw_core::mm::layout::MemRange;
use hypfw_core::payload::{pack, rewrite, zimage};
use hypfw_core::platform::dtb;
use hypfw_core::platform::smp::CpuMap;
use hypfw_core::services::{hsr, hvc, psci};
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// The fuzzer's draws, from the test tools' generator (`hypfw_core::rng`).
struct Rng(hypfw_core::rng::Rng);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: usize) -> usize {
        self.0.index(n)
    }
    fn word(&mut self) -> u32 {
        const INTERESTING: [u32; 10] = [0, 1, 2, 4, 8, 0x7F, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF];
        match self.below(4) {
            0 => INTERESTING[self.below(INTERESTING.len())],
            1 => self.below(0x1_0000) as u32,
            _ => self.next() as u32,
        }
    }
}

/// A few random edits of `input`: bit flips, words overwritten with interesting values (either
/// byte order), bytes inserted or removed, a truncation.
fn mutate(r: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + r.below(4) {
        if b.is_empty() {
            b.push(r.next() as u8);
            continue;
        }
        let at = r.below(b.len());
        match r.below(6) {
            0 => b[at] ^= 1 << r.below(8),
            1 => b[at] = r.next() as u8,
            2 => {
                let w = r.word();
                let bytes = if r.below(2) == 0 { w.to_be_bytes() } else { w.to_le_bytes() };
                let at = at & !3;
                for (i, x) in bytes.iter().enumerate() {
                    if let Some(y) = b.get_mut(at + i) {
                        *y = *x;
                    }
                }
            }
            3 => {
                let n = 1 + r.below(8);
                b.splice(at..at, (0..n).map(|_| r.next() as u8));
            }
            4 => {
                let n = (1 + r.below(8)).min(b.len() - at);
                b.drain(at..at + n);
            }
            _ => b.truncate(at),
        }
    }
    b
}

/// One fuzz target: a name, the inputs its mutations start from, and what it runs on an input.
struct Target {
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    /// Runs the input; true when the code under test accepted it (got past its checks).
    run: fn(&[u8]) -> bool,
}

fn dtb_target(input: &[u8]) -> bool {
    // The one pass that checks and describes at once must read every input as the reference
    // reader (check everything first, then walk, then search for the console's path) does: the
    // same description, or the same error at the same offset.
    let reference_valid = |b: &[u8], nops| dtb::reference::validate_counting(b, nops).map(|(total, _)| total);
    assert_eq!(dtb::validate(input), reference_valid(input, false), "validate agrees with the reference");
    assert_eq!(dtb::validate_allowing_nops(input), reference_valid(input, true), "so with NOPs anywhere");
    assert_eq!(dtb::describe(input), dtb::reference::describe(input), "describe agrees with the reference");
    // As the firmware does: tidy a copy in place (free space, NOPs), describe it, splice the
    // payload's tree from it.
    let _ = dtb::header_total_size(input);
    let mut b = input.to_vec();
    let mut c = b.clone();
    let Ok((len, _)) = dtb::tidy(&mut b) else { return false };
    let blob = &b[..len];
    let d = dtb::describe(blob);
    assert_eq!(d, dtb::reference::describe(blob), "so once tidied");
    // The firmware's one-validation path must read exactly what tidy + describe read.
    let one_pass = dtb::tidy_and_describe(&mut c).map(|(_, _, d)| d);
    assert_eq!(one_pass.ok(), d.ok(), "tidy_and_describe agrees with tidy + describe");
    // The boot path reads tokens through a word view of the structure block: it must accept and
    // describe exactly what the byte reader does (a tree with NOPs is handed to tidying).
    if let Ok(used) = dtb::header_total_size(input)
        && let Some(raw) = input.get(..used)
        && let Ok(r) = dtb::struct_block(raw)
    {
        let words: Vec<u32> = raw[r].chunks_exact(4).map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        let mut shrunk = raw.to_vec();
        dtb::shrink_total_size(&mut shrunk, used);
        match dtb::check_and_describe(raw, &words) {
            Ok(dtb::Checked::Ready(w)) => {
                assert_eq!(Ok(w), dtb::reference::describe(&shrunk), "word view agrees with the reference")
            }
            Ok(dtb::Checked::NeedsTidy) => {
                assert!(matches!(dtb::reference::validate_counting(raw, true), Ok((_, nops)) if nops > 0))
            }
            Err(e) => {
                let refused = dtb::reference::validate_counting(raw, true)
                    .and_then(|_| dtb::reference::describe(&shrunk).map(|_| ()));
                assert_eq!(Err(e), refused, "word view refuses only what the reference refuses, for the same reason")
            }
        }
    }
    let described = d.is_ok();
    {
        let e = rewrite::Edits {
            reserved: MemRange { base: 0x7FE0_0000, size: 2 << 20 },
            bootargs: Some("console=ttyAMA0"),
            initrd: Some(MemRange { base: 0x5F00_0000, size: 0x1000 }),
            psci: rewrite::PsciNode::Provide { method: hypfw_core::platform::dtb::PsciMethod::Smc, starts_cpus: true },
        };
        let mut out = vec![0u8; 64 << 10];
        if let Ok(n) = rewrite::rewrite(blob, &e, &mut out) {
            // What hypfw hands the payload must itself be a valid tree.
            dtb::validate(&out[..n]).expect("the rewritten tree is valid");
        }
    }
    described
}

fn pack_target(input: &[u8]) -> bool {
    let _ = pack::total_len(input);
    let parsed = pack::parse(input);
    if let Ok(p) = &parsed {
        assert!(p.payload.len() <= input.len() && p.total_len <= input.len());
    }
    parsed.is_ok()
}

fn zimage_target(input: &[u8]) -> bool {
    let _ = zimage::image_size(input);
    let mut b = input.to_vec();
    let ok = zimage::finish_header(&mut b).is_ok();
    if ok {
        assert_eq!(zimage::image_size(&b), Ok(b.len() as u32));
    }
    ok
}

fn reloc_target(input: &[u8]) -> bool {
    let mut image = vec![0u8; 4096];
    for (i, w) in image.chunks_exact_mut(4).enumerate() {
        w.copy_from_slice(&(0xE340_0000u32 | i as u32).to_le_bytes()); // MOVTs and words alike
    }
    let before = image.clone();
    let applied = reloc::apply_le(&mut image, input, 0x4000_0000);
    if applied.is_err() {
        assert_eq!(image, before, "a refused table leaves the image alone");
    }
    let words: Vec<u32> = input.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
    if let Ok(t) = reloc::parse(&words) {
        let _ = reloc::apply(&mut image, &t, 0x1_0000);
    }
    applied.is_ok()
}

fn words_of(input: &[u8]) -> [u32; 6] {
    let mut w = [0u32; 6];
    for (i, c) in input.chunks(4).take(6).enumerate() {
        let mut b = [0u8; 4];
        b[..c.len()].copy_from_slice(c);
        w[i] = u32::from_le_bytes(b);
    }
    w
}

fn hsr_target(input: &[u8]) -> bool {
    let w = words_of(input);
    let h = hsr::Hsr(w[0]);
    let _ = (h.ec(), h.il(), h.iss(), h.hvc_imm(), h.ec_name(), h.is_write(), h.on_stage1_walk());
    let _ = (hsr::fsc_name(h.fsc()), hsr::fsc_level(h.fsc()), hsr::fault_ipa(w[1], w[2]));
    true
}

fn services_target(input: &[u8]) -> bool {
    let w = words_of(input);
    let regs = [w[0], w[1], w[2], w[3]];
    let imm = w[4] as u16;
    // HVC: every call gets an answer; an unknown one NOT_SUPPORTED with nothing in r1-r3.
    let out = hvc::answer(regs, imm);
    if out[0] == hvc::NOT_SUPPORTED {
        assert_eq!(&out[1..], &[0, 0, 0], "nothing leaks in r1-r3");
    }
    let _ = hvc::dispatch(regs, imm);
    // PSCI: a CPU_ON that gets through names a real CPU and an entry whose first instruction word
    // is in RAM outside the holes; target_cpu bits [31:24] are always refused.
    let cpus = CpuMap::new(&[0u32, 1, 2, 3].map(|m| dtb::Cpu { mpidr: m, psci: true }), 0);
    let ram = [MemRange { base: 0x4000_0000, size: 1 << 30 }];
    let holes = [MemRange { base: 0x7FE0_0000, size: 2 << 20 }];
    match psci::decode(regs, &cpus, &ram, &holes) {
        psci::Request::CpuOn { cpu, entry, .. } => {
            assert!(cpu < 4 && regs[1] & 0xFF00_0000 == 0);
            let word = MemRange { base: (entry & !1) as u64, size: 4 };
            assert!(ram[0].base <= word.base && word.end() <= ram[0].end() && !holes[0].overlaps(&word));
            true
        }
        psci::Request::AffinityInfo { cpu } => {
            assert!(cpu < 4 && regs[1] & 0xFF00_0000 == 0);
            true
        }
        _ => out[0] != hvc::NOT_SUPPORTED,
    }
}

fn targets() -> Vec<Target> {
    let root = crate::root();
    let fixture = |n: &str| std::fs::read(root.join("tests/fixtures").join(n)).unwrap_or_default();
    let dtbs: Vec<Vec<u8>> =
        ["qemu-virt-smp4.dtb", "qemu-virt-4g.dtb", "qemu-virt-secure-smp4.dtb", "board-ranges.dtb"]
            .iter()
            .map(|n| fixture(n))
            .collect();
    let kind = pack::Kind::Relocatable { link_addr: 0x4200_0000, entry_offset: 0 };
    let mut table = vec![0u8; 4 * 8];
    reloc::encode(&[0, 8], &[4, 12, 16], &mut table).unwrap();
    let packs = vec![
        pack::build(pack::Kind::ZImage, &[0x55; 300], Some(&[0x66; 100]), Some("console=ttyAMA0")),
        pack::build_with_relocs(kind, &[0x77; 64], None, None, Some(&table)),
    ];
    let mut zimg = vec![0u8; 0x200];
    zimg[zimage::MAGIC_OFFSET..zimage::MAGIC_OFFSET + 4].copy_from_slice(&zimage::MAGIC.to_le_bytes());
    zimg[zimage::ENDIAN_OFFSET..zimage::ENDIAN_OFFSET + 4].copy_from_slice(&zimage::ENDIAN_LE.to_le_bytes());
    let calls = [hvc::HYPFW_VERSION, hvc::SMCCC_VERSION, psci::CPU_ON, psci::AFFINITY_INFO, hvc::HYPFW_TEARDOWN]
        .iter()
        .map(|&f| [f, 1, 0x4200_0000, 7, 0, 0].iter().flat_map(|w| w.to_le_bytes()).collect())
        .collect();
    vec![
        Target { name: "dtb", seeds: dtbs, run: dtb_target },
        Target { name: "pack", seeds: packs, run: pack_target },
        Target { name: "zimage", seeds: vec![zimg], run: zimage_target },
        Target { name: "reloc", seeds: vec![table], run: reloc_target },
        Target { name: "hsr", seeds: vec![vec![0; 12], 0x9200_0047u32.to_le_bytes().to_vec()], run: hsr_target },
        Target { name: "services", seeds: calls, run: services_target },
    ]
}

/// The input being executed, for the panic hook: the workspace builds with `panic = "abort"`,
/// so a crash cannot be caught; the hook saves the input and names it before the process ends.
static CURRENT: std::sync::Mutex<Option<Running>> = std::sync::Mutex::new(None);

/// Target name, seed, execution number, input.
type Running = (&'static str, u64, u64, Vec<u8>);

/// Run every target (or `only`) for `execs` executions each; returns (executions, distinct
/// inputs, accepted inputs) per target. A crash ends the process after saving the input to target/fuzz-crashes/.
pub fn run(execs: u64, seed: u64, only: Option<&str>) -> Vec<(&'static str, u64, usize, u64)> {
    let mut report = Vec::new();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some((name, seed, i, input)) = CURRENT.try_lock().ok().and_then(|mut c| c.take()) {
            let dir = crate::root().join("target/fuzz-crashes");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("{name}-seed{seed}-exec{i}.bin"));
            let _ = std::fs::write(&file, &input);
            eprintln!("fuzz target {name} crashed at execution {i} (seed {seed}); input saved to {}", file.display());
        }
        default_hook(info);
    }));
    for t in targets().into_iter().filter(|t| only.is_none_or(|o| o == t.name)) {
        let mut r = Rng(hypfw_core::rng::Rng::new(seed ^ t.name.len() as u64));
        let mut seen = HashSet::new();
        let mut accepted = 0u64;
        for i in 0..execs {
            let base = &t.seeds[r.below(t.seeds.len())];
            let input = mutate(&mut r, base);
            let mut h = DefaultHasher::new();
            input.hash(&mut h);
            seen.insert(h.finish());
            *CURRENT.lock().unwrap() = Some((t.name, seed, i, input.clone()));
            accepted += u64::from((t.run)(&input));
        }
        report.push((t.name, execs, seen.len(), accepted));
    }
    *CURRENT.lock().unwrap() = None;
    let _ = std::panic::take_hook();
    report
}

/// `cargo xtask fuzz`.
pub fn cmd(args: &[String]) -> Result<u8, String> {
    let (mut execs, mut seed, mut only) = (200_000u64, 1u64, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--execs" => execs = v.parse().map_err(|_| "--execs N")?,
            "--seed" => seed = v.parse().map_err(|_| "--seed N")?,
            "--target" => only = Some(v.clone()),
            o => return Err(format!("unknown option {o}")),
        }
    }
    let t0 = std::time::Instant::now();
    let report = run(execs, seed, only.as_deref());
    let total: u64 = report.iter().map(|r| r.1).sum();
    for (name, n, distinct, accepted) in &report {
        println!("fuzz {name:<9} {n} executions, {distinct} distinct inputs, {accepted} accepted, no crash");
    }
    println!("fuzz: {total} executions in {:.1} s (seed {seed})", t0.elapsed().as_secs_f64());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same seed gives the same inputs; a crash would name its seed and execution.
    #[test]
    fn runs_are_reproducible_and_find_no_crash() {
        let a = run(2_000, 7, None);
        let b = run(2_000, 7, None);
        assert_eq!(a, b);
        assert_eq!(a.len(), 6);
        assert!(a.iter().all(|(_, _, distinct, accepted)| *distinct > 100 && *accepted > 0), "{a:?}");
    }
}
