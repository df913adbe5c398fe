//! `cargo xtask sweep [--quick] [--jobs N] [FILTER...]`: the packed image (hypfw + self-test
//! payload) started at many load addresses chosen on purpose, each class for a reason (see
//! `cases`). Every case must end the way it is expected to: the payload's verdict with hypfw
//! running where its move rule puts it, or a `hypfw: fatal:` line naming the reason, or (where no
//! memory can hold the image, so not one instruction of hypfw runs) the CPU's abort at the load
//! address in QEMU's log. A timeout is a failure that names the case. `--quick` runs the subset
//! `cargo xtask test` runs (one or two of each class).
//!
//! Three ways in: QEMU's generic loader (`-device loader,file=...,addr=...` for the image and the
//! device tree, and `-device loader,addr=...,cpu-num=0` for a shim that sets r0-r2 as U-Boot's
//! bootz does and jumps to the image: the generic loader sets only the PC, so a raw image would
//! otherwise get r2 = 0); Debian's U-Boot (`bootz` / `bootm` at the address); and a Secure SVC
//! start from a shim in flash that every CPU runs.

use crate::qemu::{Qemu, run_captured};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The relocation granule: hypfw runs only at load addresses that are a multiple of this from
/// its link address (which is one).
const GRANULE: u64 = 0x1_0000;
/// QEMU virt's RAM base.
const RAM: u64 = 0x4000_0000;
/// hypfw_core::platform::dtb::MAX_SIZE, the room the downward move keeps for a DTB under the image.
const DTB_MAX: u64 = 2 << 20;

/// What the image is, for choosing addresses and predicting where hypfw runs.
struct Layout {
    /// Bytes of the file (hypfw + pack).
    file: u64,
    /// What the image covers once running: file or .bss, whichever ends later.
    span: u64,
    /// Offset and length of the init page's code in the image.
    init_page: (u64, u64),
    /// Bytes of the pack (an upper bound of the payload's bytes as placed).
    pack: u64,
}

/// How a case must end.
enum Want {
    /// The payload's verdict, with hypfw's boot phase running at this address (the entry line's
    /// "load address", after its own move) in this mode.
    Verdict { runs_at: Option<u64>, mode: &'static str },
    /// No memory holds the image: the CPU aborts at its first fetch and no hypfw line appears.
    /// QEMU's `-d guest_errors,int` log must contain this.
    NoCode(String),
}

struct Case {
    class: &'static str,
    name: String,
    why: String,
    q: Qemu,
    want: Want,
    timeout: u64,
    quick: bool,
}

/// Where hypfw's entry code runs the boot phase when loaded at `load` with a DTB at `dtb`
/// (start, end) passed in r2: the model of boot/entry.S's move rule. Up to the next address a
/// multiple of 64 KiB from the link address (64 KiB further when that is at most 4 KiB away, as
/// the move would overwrite the running first page), further up when the image would cover the
/// DTB, and down below the image (and a DTB under it) when up would pass 4 GiB or the end of RAM
/// (`ram_end`: entry.S reads the destination's last word, which aborts past the end).
fn runs_at(load: u64, span: u64, dtb: Option<(u64, u64)>, ram_end: u64) -> u64 {
    let off = load % GRANULE;
    let mut d = if off == 0 { 0 } else { GRANULE - off };
    if (1..=0x1000).contains(&d) {
        d += GRANULE;
    }
    if let Some((ds, de)) = dtb
        && ds < load + span + d
        && de > load
    {
        d = de.next_multiple_of(GRANULE) - load;
    }
    if d == 0 {
        return load;
    }
    if load + d + span <= ram_end.min(1 << 32) {
        return load + d;
    }
    let mut at = load - span;
    if let Some((ds, _)) = dtb
        && ds < load
        && (ds >= at || at - ds < DTB_MAX)
    {
        at = ds - span;
    }
    at & !(GRANULE - 1)
}

/// The files one case needs, under `dir`.
struct Ctx {
    bin: PathBuf,
    dir: PathBuf,
    l: Layout,
}

impl Ctx {
    /// QEMU's own device tree for this RAM size and CPU count (`-machine dumpdtb`), cached.
    fn qemu_dtb(&self, mem: u32, smp: u32) -> Result<PathBuf, String> {
        let p = self.dir.join(format!("virt-{mem}m-smp{smp}.dtb"));
        if !p.exists() {
            let mut q = Qemu::new(&format!("virt,virtualization=on,dumpdtb={}", p.display()));
            q.mem_mib = mem;
            q.smp = smp;
            let o = q.command().output().map_err(|e| e.to_string())?;
            if !p.exists() {
                return Err(format!("qemu dumpdtb: {}", String::from_utf8_lossy(&o.stderr)));
            }
        }
        Ok(p)
    }

    /// A case through the generic loader: the image at `load`, QEMU's DTB at `dtb_at` (r2 = it),
    /// or at the start of RAM with r2 = 0 (`None`: QEMU's ELF-boot convention, which hypfw reads).
    fn loader(&self, class: &'static str, load: u64, mem: u32, dtb_at: Option<u64>, why: &str) -> Result<Case, String> {
        let name = format!("{class}-{load:08x}-{mem}m");
        let dtb = self.qemu_dtb(mem, 4)?;
        let dtb_len = std::fs::metadata(&dtb).map_err(|e| e.to_string())?.len();
        let image = (load, load + self.l.span + 2 * GRANULE);
        let dtb_place = dtb_at.unwrap_or(RAM);
        let overlaps = |a: (u64, u64), b: (u64, u64)| a.0 < b.1 && b.0 < a.1;
        let shim_at = [0x4010_0000u64, 0x4f00_0000, 0x6000_0000]
            .into_iter()
            .find(|&s| {
                !overlaps((s, s + 0x1000), image) && !overlaps((s, s + 0x1000), (dtb_place, dtb_place + dtb_len))
            })
            .ok_or("no room for the shim")?;
        let shim = self.dir.join(format!("{name}.shim"));
        let r2 = dtb_at.unwrap_or(0);
        std::fs::write(&shim, crate::scenarios::shim(r2 as u32, load as u32)).map_err(|e| e.to_string())?;
        let mut q = Qemu::new("virt,virtualization=on");
        q.smp = 4;
        q.mem_mib = mem;
        q.load = vec![
            "-device".into(),
            format!("loader,file={},addr={shim_at:#x},cpu-num=0,force-raw=on", shim.display()),
            "-device".into(),
            format!("loader,file={},addr={load:#x},force-raw=on", self.bin.display()),
        ];
        // Without -kernel QEMU puts its own tree at the start of RAM; elsewhere, a copy of it.
        if dtb_at.is_some() {
            q.load
                .extend(["-device".into(), format!("loader,file={},addr={dtb_place:#x},force-raw=on", dtb.display())]);
        }
        let dtb_range = dtb_at.map(|d| (d, d + dtb_len));
        let ram_end = RAM + ((mem as u64) << 20);
        let want = Want::Verdict { runs_at: Some(runs_at(load, self.l.span, dtb_range, ram_end)), mode: "HYP" };
        Ok(Case { class, name, why: why.into(), q, want, timeout: 30, quick: false })
    }

    /// A case through Debian's U-Boot: the image read from a virtio disk to `addr` and started
    /// with `how` (`u-boot`: bootz; `u-boot-bootm`: a uImage, run in place 64 bytes on).
    fn uboot(&self, how: &str, addr: u64, why: &str) -> Result<Case, String> {
        let name = format!("{how}-{addr:08x}");
        let (load, script) =
            crate::scenarios::uboot_args_at(&name, &self.bin.display().to_string(), how, &self.dir, addr as u32)?;
        let mut q = Qemu::new("virt,virtualization=on");
        q.smp = 2;
        q.load = load;
        q.prompt_script = script;
        let start = if how == "u-boot-bootm" { addr + 64 } else { addr };
        // U-Boot's tree lies far above these addresses (it relocates it near the top of RAM).
        let want = Want::Verdict { runs_at: Some(runs_at(start, self.l.span, None, RAM + (1 << 30))), mode: "HYP" };
        Ok(Case { class: "u-boot", name, why: why.into(), q, want, timeout: 40, quick: false })
    }

    /// A Secure SVC start (secure=on): every CPU runs a shim in flash that jumps to the image at
    /// `load` with r2 = QEMU's DTB; the CPUs other than the boot CPU wait in the entry pen of the
    /// copy as loaded while the boot CPU moves the image.
    fn secure(&self, load: u64, why: &str) -> Result<Case, String> {
        let name = format!("secure-{load:08x}");
        let load_args =
            crate::scenarios::bios_args(&name, &self.bin.display().to_string(), &format!("bios@{load:#x}"), &self.dir)?;
        let mut q = Qemu::new("virt,virtualization=on,secure=on");
        q.smp = 4;
        q.load = load_args;
        let want = Want::Verdict { runs_at: Some(runs_at(load, self.l.span, None, RAM + (1 << 30))), mode: "SVC" };
        Ok(Case { class: "secure", name, why: why.into(), q, want, timeout: 30, quick: false })
    }
}

/// Every case, by class (the first of each class, and any marked, are the quick subset).
fn cases(c: &Ctx) -> Result<Vec<Case>, String> {
    let l = &c.l;
    let mut v: Vec<Case> = Vec::new();

    // Not 4 KiB aligned (all 4-byte aligned), spread over RAM: the image moves itself up to the
    // next 64 KiB multiple from its link address and relocates for it.
    for a in [
        0x4020_0004u64,
        0x4020_0800,
        0x4021_0010,
        0x4040_0abc,
        0x4100_0ffc,
        0x4321_0124,
        0x4567_8008,
        0x4800_0100,
        0x4abc_def0,
        0x5000_0004,
        0x5a5a_5a58,
        0x6000_f00c,
        0x7000_1234,
        0x7654_3210,
    ] {
        v.push(c.loader("unaligned", a, 1024, Some(0x4400_0000), "4-byte aligned, not 4 KiB aligned")?);
    }

    // Offsets at which the init page's code (one page in the image) would straddle a 4 KiB
    // boundary in the copy as loaded: in-page offsets o with (init + o) % 4 KiB + len > 4 KiB.
    let (init, len) = l.init_page;
    let straddles = |o: u64| (init + o) % 0x1000 + len > 0x1000;
    let first = (0..0x1000).step_by(4).find(|&o| straddles(o)).ok_or("the init page never straddles")?;
    let mid = ((first + 0x1000) / 2) & !3;
    for (i, o) in [first, first + 4, mid, 0xff0, 0xffc].into_iter().enumerate() {
        let a = 0x4030_0000 + i as u64 * 0x0101_1000 + o;
        let why =
            format!("the init page's code ({len:#x} bytes) would straddle a page boundary (offsets {first:#x}..0xffc)");
        v.push(c.loader("straddle", a, 1024, Some(0x4400_0000), &why)?);
    }
    if first >= 4 {
        let why = "the last in-page offset at which the init page does not straddle (control)";
        v.push(c.loader("straddle", 0x4800_0000 + first - 4, 1024, Some(0x4400_0000), why)?);
    }

    // A move of at most 4 KiB (loaded just below a 64 KiB multiple): the copy loop and the entry
    // pen live in the first page, which such a move would overwrite while they run.
    for (i, d) in [4u64, 8, 0x100, 0x1ec, 0x3cc, 0x800, 0xffc, 0x1000, 0x1004].into_iter().enumerate() {
        let a = 0x4060_0000 + i as u64 * 0x0123_0000 - d;
        v.push(c.loader("short-move", a, 1024, Some(0x4400_0000), "at most 4 KiB below a 64 KiB multiple")?);
    }

    // Low RAM, next to QEMU's own 1 MiB device tree at the start of RAM (QEMU's ELF-boot layout),
    // found there with r2 = 0.
    for a in [0x4010_0000u64, 0x4010_0004, 0x4010_0ffc, 0x4010_f000, 0x4011_fffc] {
        v.push(c.loader("low-ram", a, 1024, None, "right above QEMU's DTB at the start of RAM, r2 = 0")?);
    }
    // The DTB (in r2) right after the file, as a FIT left in place puts it, and right below.
    for a in [0x4030_0004u64, 0x4100_0800, 0x4567_8ffc] {
        let dtb = (a + l.file).next_multiple_of(8);
        v.push(c.loader("dtb-after", a, 1024, Some(dtb), "the DTB right after the file: the move goes above it")?);
    }
    for a in [0x4510_0000u64, 0x4510_0804] {
        v.push(c.loader("dtb-below", a, 1024, Some(a - (1 << 20)), "the DTB ends where the image starts")?);
    }

    // The DTB where hypfw would put its region (the top 2 MiB of 1 GiB), as U-Boot leaves it when
    // it moves the tree to the top of RAM: the region goes below the tree, which stays intact.
    // (Each case at its own load address, which names it.)
    for d in [0x7fe0_0000u64, 0x7fef_0000, 0x7ff0_0000, 0x7ffe_0000, 0x7fff_0000, 0x7fdf_f000] {
        v.push(c.loader("dtb-top", 0x4020_0000 + (d & 0xff_f000), 1024, Some(d), "the DTB in the top 2 MiB of RAM")?);
    }
    // Right below (and over) where hypfw places the self-test payload as a kernel would: RAM +
    // 32 MiB, 0x42000000. Where the running image covers that place, the payload (relocatable)
    // goes to the lowest free 64 KiB multiple instead and still reaches its verdict. (A payload
    // that must run at a fixed address has nowhere else to go: hypfw stops and names the range
    // in use; host tests in core/src/payload/placement.rs.)
    let p = 0x4200_0000u64;
    // The highest load address whose running copy (after the move rule) still ends below the
    // payload: the rule may add a granule (a short move), so the address follows the model.
    let mut below = p - l.span - GRANULE;
    while runs_at(below, l.span, None, RAM + (1 << 30)) + l.span > p {
        below -= GRANULE;
    }
    for (a, why) in [
        (below, "the running image ends just below the payload"),
        (p - l.file, "the file ends at the payload's address, the move takes it over"),
        (p - l.file - 0x800, "after the move the image covers the payload's address"),
        (p - GRANULE, "the payload's address falls inside the image"),
        (p, "at the payload's address"),
        (p + l.pack.next_multiple_of(0x1000) + 0x804, "just above the payload's bytes"),
    ] {
        v.push(c.loader("payload-addr", a, 1024, Some(0x4400_0000), why)?);
    }

    // Where hypfw keeps its own region (the top 2 MiB below 0xC0000000 of the first bank: with
    // 1 GiB, 0x7fe00000..0x80000000) and its copy goes.
    for a in [0x7fd0_0004u64, 0x7fde_0000, 0x7fe0_0000, 0x7fe0_0804, 0x7ff0_0000, 0x7ff8_0000] {
        v.push(c.loader("region", a, 1024, Some(0x4400_0000), "over hypfw's reserved region at the top of 1 GiB")?);
    }

    // The top of 3 GiB of RAM (0x40000000..0x100000000): the image ending exactly at the end of
    // RAM, and just below; the moves up that would pass 4 GiB go down instead.
    let top = 1u64 << 32;
    for (a, why) in [
        (top - l.file, "the file ends exactly at the end of RAM"),
        ((top - l.span) & !0xfff, "page aligned, the image ending in the last page of RAM"),
        (top - l.file - 4, "4 bytes below the end of RAM"),
        (top - l.file - 0x1000, "4 KiB below the end of RAM"),
        ((top - l.file - GRANULE) & !3, "64 KiB below the end of RAM"),
        ((top - l.span - 2 * GRANULE) & !(GRANULE - 1), "the highest start that needs no move"),
        (top - 0x0010_0000 + 0x804, "1 MiB below the end of RAM"),
        ((top - l.file - 0x0200_0000) & !3, "32 MiB below the end, ending unaligned"),
    ] {
        v.push(c.loader("top-3g", a, 3072, Some(0x4400_0000), why)?);
    }

    // The end of a RAM that ends below 4 GiB (1 GiB: 0x40000000..0x80000000): where the move up to
    // the next 64 KiB multiple would run past the end, entry.S finds no RAM there (its probe of the
    // destination's last word aborts) and moves the image down below itself instead.
    let end = RAM + (1 << 30);
    // The highest 64 KiB multiple at which the image still fits below the end.
    let x = (end - l.span) & !(GRANULE - 1);
    for (a, why) in [
        ((end - l.span - 4) & !3, "the image would end 4 bytes below the end of RAM: the move up passes it"),
        (x - 0xffc, "a move of at most 4 KiB goes 64 KiB further, past the end of RAM"),
        (x - GRANULE + 4, "the move up ends at the highest place that fits"),
    ] {
        v.push(c.loader("ram-end", a, 1024, Some(0x4400_0000), why)?);
    }

    // Not RAM: the image lands nowhere, so hypfw cannot run at all; what is expected is the CPU's
    // abort at its first fetch (QEMU's log), no hypfw line, and the CPU halted in its abort.
    for (a, mem, abort) in [
        (0x9000_0000u64, 1024, "HIFAR 0x90000000"),
        (0xc000_0000, 1024, "HIFAR 0xc0000000"),
        (0x1000_0000, 1024, "Undefined Instruction"),
    ] {
        let mut k = c.loader("not-ram", a, mem, Some(0x4400_0000), "not RAM: the loader's bytes go nowhere")?;
        k.q.extra.extend(["-d".into(), "guest_errors,int".into()]);
        k.want = Want::NoCode(abort.into());
        k.timeout = 3;
        v.push(k);
    }

    // Through U-Boot: bootz and bootm (uImage, run 64 bytes on) at several addresses.
    for (how, a, why) in [
        ("u-boot", 0x4040_0000u64, "bootz at U-Boot's kernel_addr_r"),
        ("u-boot", 0x4021_0004, "bootz, not 4 KiB aligned"),
        ("u-boot", 0x4030_0ffc, "bootz, 4 bytes below a 4 KiB multiple"),
        ("u-boot", 0x4051_fffc, "bootz, 4 bytes below a 64 KiB multiple"),
        ("u-boot", 0x4123_4564, "bootz, unaligned"),
        ("u-boot", 0x5000_0ab4, "bootz, the init page would straddle"),
        ("u-boot-bootm", 0x4021_ffc0, "bootm: runs 64 bytes on, at a 64 KiB multiple"),
        ("u-boot-bootm", 0x4400_0800, "bootm: not 4 KiB aligned"),
    ] {
        v.push(c.uboot(how, a, why)?);
    }

    // Secure SVC entry: the other CPUs wait in the entry pen of the copy as loaded while the
    // boot CPU moves the image; the pen must survive the move.
    for (a, why) in [
        (0x4023_8000u64, "not 64 KiB aligned"),
        (0x4030_fffc, "4 bytes below a 64 KiB multiple: the move must not overwrite the pen"),
        (0x4040_0ab4, "the init page would straddle"),
        (0x4123_4568, "unaligned"),
        // The image moves up to 0x42020000, and the pen page stays where the self-test payload
        // goes by default (RAM + 32 MiB, 0x42000000..): the payload must go elsewhere while the
        // other CPUs still wait there (before, it was copied over the pen).
        (0x4201_7000, "the pen page left where the payload would go"),
    ] {
        v.push(c.secure(a, why)?);
    }

    // The quick subset: the first of each class, and the cases the fixes here were for.
    let mut seen = std::collections::HashSet::new();
    for k in &mut v {
        k.quick |= seen.insert(k.class);
    }
    // Fixed addresses by name; the ones that follow the image's size by what they test (the
    // file ending at 4 GiB is the first of its class).
    for k in &mut v {
        k.quick |= ["short-move-405ffffc-1024m", "u-boot-4051fffc", "secure-4030fffc"].contains(&k.name.as_str())
            || k.why == "the file ends at the payload's address, the move takes it over";
    }
    Ok(v)
}

/// What is wrong with how `k` ended (empty: it ended as expected).
fn judge(k: &Case, o: &crate::qemu::Outcome) -> Vec<String> {
    let has = |t: &str| o.output.lines().any(|l| l.contains(t));
    let mut why = Vec::new();
    match &k.want {
        Want::Verdict { runs_at, mode } => {
            if o.status.is_none() {
                why.push(format!("timed out after {} s", k.timeout));
            } else if o.status != Some(0) {
                why.push(format!("exit status {:?}, expected 0", o.status));
            }
            for t in ["payload: all", "hypfw: the payload powered the system off"] {
                if !has(t) {
                    why.push(format!("missing line: {t}"));
                }
            }
            if let Some(at) = runs_at {
                let t = format!("hypfw: entry: {mode} mode, load address {at:#010x}");
                if !has(&t) {
                    why.push(format!("missing line: {t}"));
                }
            }
            for t in ["fatal", "FAILED"] {
                if let Some(l) = o.output.lines().find(|l| l.contains(t)) {
                    why.push(format!("unwanted line: {l}"));
                }
            }
        }
        Want::NoCode(t) => {
            if let Some(c) = o.status {
                why.push(format!("exit status {c}, expected the CPU to stay in its abort until the timeout"));
            }
            if !has(t) {
                why.push(format!("missing QEMU log line: {t}"));
            }
            if let Some(l) = o.output.lines().find(|l| l.contains("hypfw:")) {
                why.push(format!("unwanted line (no hypfw code can run here): {l}"));
            }
        }
    }
    why
}

/// The image's layout, from the built files.
fn layout(imgs: &crate::Images) -> Result<Layout, String> {
    let file = std::fs::metadata(&imgs.bin).map_err(|e| e.to_string())?.len();
    let s = crate::image::symbols(
        &imgs.elf,
        &["__image_start", "__image_end", "__init_page_start", "__init_page_code_end"],
    )?;
    let pack = file.saturating_sub(imgs.pack_offset as u64);
    Ok(Layout { file, span: file.max(s[1] - s[0]), init_page: (s[2] - s[0], s[3] - s[2]), pack })
}

/// Run the sweep (`quick`: the subset); `filter`: only cases whose name contains one of these.
/// Returns (passed, failed).
pub fn run(quick: bool, jobs: usize, filter: &[String], imgs: &crate::Images) -> Result<(usize, usize), String> {
    let dir = crate::root().join("target/sweep");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let ctx = Ctx { bin: imgs.bin.clone(), dir, l: layout(imgs)? };
    let all: Vec<Case> = cases(&ctx)?
        .into_iter()
        .filter(|k| !quick || k.quick)
        .filter(|k| filter.is_empty() || filter.iter().any(|f| k.name.contains(f.as_str())))
        .collect();
    let start = Instant::now();
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<(usize, Vec<String>, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    let Some(k) = all.get(i) else { break };
                    let r = match run_captured(&k.q, Duration::from_secs(k.timeout)) {
                        Ok(o) => (judge(k, &o), o.output),
                        Err(e) => (vec![e], String::new()),
                    };
                    results.lock().unwrap().push((i, r.0, r.1));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    let (mut passed, mut failed) = (0, 0);
    let mut by_class: Vec<(&str, usize, usize)> = Vec::new();
    for (i, why, output) in &results {
        let k = &all[*i];
        let ok = why.is_empty();
        match by_class.iter_mut().find(|c| c.0 == k.class) {
            Some(c) => {
                c.1 += ok as usize;
                c.2 += !ok as usize;
            }
            None => by_class.push((k.class, ok as usize, !ok as usize)),
        }
        let outcome = match &k.want {
            Want::Verdict { runs_at: Some(a), .. } => format!("verdict, ran at {a:#x}"),
            Want::Verdict { .. } => "verdict".into(),
            Want::NoCode(_) => "no hypfw code runs (CPU abort at the load address)".into(),
        };
        if ok {
            passed += 1;
            println!("sweep {} ... ok ({outcome}; {})", k.name, k.why);
        } else {
            failed += 1;
            println!("sweep {} ... FAILED ({})", k.name, k.why);
            for w in why {
                println!("    {w}");
            }
            println!("    --- console ---");
            for l in output.lines() {
                println!("    | {l}");
            }
        }
    }
    for (c, p, f) in &by_class {
        println!("sweep class {c}: {p} passed, {f} failed");
    }
    println!(
        "load-address sweep: {passed} passed, {failed} failed ({} cases, {:.1} s, {} jobs)",
        all.len(),
        start.elapsed().as_secs_f64(),
        jobs.max(1)
    );
    Ok((passed, failed))
}

/// `cargo xtask sweep [--quick] [--jobs N] [FILTER...]`.
pub fn cmd(args: &[String]) -> Result<u8, String> {
    let mut quick = false;
    let mut jobs = 2;
    let mut filter = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--jobs" => jobs = it.next().and_then(|v| v.parse().ok()).ok_or("--jobs N")?,
            f if !f.starts_with('-') => filter.push(f.to_string()),
            o => return Err(format!("unknown option {o}")),
        }
    }
    let imgs = crate::build(&crate::BuildOpts { release: true, semihosting: true })?;
    let (_, failed) = run(quick, jobs, &filter, &imgs)?;
    Ok(if failed == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model of entry.S's move rule, on the cases the classes are built from.
    #[test]
    fn move_rule() {
        let span = 0x3_97f8;
        assert_eq!(runs_at(0x4567_8000, span, None, 1 << 32), 0x4568_0000);
        assert_eq!(runs_at(0x4568_0000, span, None, 1 << 32), 0x4568_0000);
        // At most 4 KiB: 64 KiB further.
        assert_eq!(runs_at(0x4021_fffc, span, None, 1 << 32), 0x4023_0000);
        assert_eq!(runs_at(0x4021_f000, span, None, 1 << 32), 0x4023_0000);
        assert_eq!(runs_at(0x4021_effc, span, None, 1 << 32), 0x4022_0000);
        // Above a DTB the image would cover.
        assert_eq!(runs_at(0x4030_0004, span, Some((0x4033_9800, 0x4043_9800)), 1 << 32), 0x4044_0000);
        // Past 4 GiB: down, below the image.
        assert_eq!(runs_at((1 << 32) - span, span, None, 1 << 32), 0xfff8_0000);
        // Past the end of a RAM that ends lower: down too.
        assert_eq!(runs_at(0x8000_0000 - span - 4, span, None, 0x8000_0000), 0x7ff8_0000);
        assert_eq!(runs_at(0x7ff0_0004, span, None, 0x8000_0000), 0x7ff1_0000);
    }
}
