//! The one place that knows how to start QEMU for hypfw.

use crate::{BuildOpts, build};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Qemu {
    pub machine: String,
    /// `-cpu`: cortex-a15 unless a scenario or `run --cpu` says otherwise (cortex-a7).
    pub cpu: String,
    pub smp: u32,
    pub mem_mib: u32,
    /// How the image is loaded: `-kernel FILE`, or `-device loader` pieces.
    pub load: Vec<String>,
    pub extra: Vec<String>,
    /// Bootloader scenarios: (text to wait for, line to type then), in order.
    pub prompt_script: Vec<(String, String)>,
    /// Let a semihosting host listen (`-semihosting-config`); off: QEMU as a user types it.
    pub semihosting: bool,
}

impl Qemu {
    pub fn new(machine: &str) -> Self {
        Qemu {
            machine: machine.into(),
            cpu: "cortex-a15".into(),
            smp: 1,
            mem_mib: 1024,
            load: Vec::new(),
            extra: Vec::new(),
            prompt_script: Vec::new(),
            semihosting: true,
        }
    }
    pub fn kernel(mut self, p: &Path) -> Self {
        self.load = vec!["-kernel".into(), p.display().to_string()];
        self
    }
    pub fn command(&self) -> Command {
        let mut c = Command::new("qemu-system-arm");
        c.args(["-M", &self.machine, "-cpu", &self.cpu, "-smp", &self.smp.to_string()]);
        c.args(["-m", &self.mem_mib.to_string(), "-nographic", "-nic", "none", "-monitor", "none", "-serial", "stdio"]);
        if self.semihosting {
            c.args(["-semihosting-config", "enable=on,target=native"]);
        }
        c.args(&self.load).args(&self.extra);
        c
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub struct Outcome {
    pub output: String,
    /// None on timeout.
    pub status: Option<i32>,
}

/// Run QEMU to completion or `timeout`, capturing its console; bootloader scenarios type their
/// `prompt_script` as the console asks for it.
pub fn run_captured(q: &Qemu, timeout: Duration) -> Result<Outcome, String> {
    let stdin = if q.prompt_script.is_empty() { Stdio::null() } else { Stdio::piped() };
    let mut child = q.command().stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| {
        format!("cannot start qemu-system-arm ({e}); install it with `apt-get install qemu-system-arm`")
    })?;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut input = child.stdin.take();
    let mut script = q.prompt_script.clone().into_iter();
    let reader = std::thread::spawn(move || {
        use std::io::Write;
        let mut s = Vec::new();
        let mut buf = [0u8; 4096];
        let mut next = script.next();
        let mut prev: Option<(String, String)> = None;
        let mut seen_upto = 0;
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            s.extend_from_slice(&buf[..n]);
            // An empty line means "press a key": U-Boot drops keys that arrive before its
            // countdown polls, so one goes with every chunk of output until the next step.
            if let (Some((_, l)), Some(w)) = (&prev, input.as_mut())
                && l.is_empty()
            {
                let _ = w.write_all(b" ");
                let _ = w.flush();
            }
            while let Some((wait_for, line)) = &next {
                let Some(at) = find(&s[seen_upto..], wait_for.as_bytes()) else { break };
                seen_upto += at + wait_for.len();
                if let Some(w) = input.as_mut() {
                    let text = if line.is_empty() { " ".to_string() } else { format!("{line}\n") };
                    let _ = w.write_all(text.as_bytes());
                    let _ = w.flush();
                }
                prev = next.take();
                next = script.next();
            }
        }
        s
    });
    let ereader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st.code();
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::from_utf8_lossy(&reader.join().unwrap()).replace('\r', "");
    output.push_str(&String::from_utf8_lossy(&ereader.join().unwrap()));
    Ok(Outcome { output, status })
}

fn images() -> Result<crate::Images, String> {
    build(&BuildOpts { release: true, semihosting: true })
}

/// `cargo xtask run`: boot interactively (console on this terminal).
pub fn run_cmd(args: &[String]) -> Result<u8, String> {
    let crate::Images { elf, bare, bin, .. } = images()?;
    let mut machine = "virt,virtualization=on".to_string();
    let mut q = Qemu::new(&machine);
    let mut it = args.iter();
    let mut use_elf = false;
    let mut use_bare = false;
    let mut linux = None;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--gdb" => q.extra.extend(["-S".into(), "-s".into()]),
            "--elf" => use_elf = true,
            "--bare" => use_bare = true,
            "--linux" => linux = Some(crate::linux::packed_image()?.0),
            "--secure" => machine.push_str(",secure=on"),
            "--smp" => q.smp = it.next().and_then(|v| v.parse().ok()).ok_or("--smp N")?,
            "--cpu" => q.cpu = it.next().cloned().ok_or("--cpu cortex-a15|cortex-a7")?,
            "-m" => q.mem_mib = it.next().and_then(|v| v.parse().ok()).ok_or("-m MiB")?,
            "--" => q.extra.extend(it.by_ref().cloned()),
            o => return Err(format!("unknown option {o}")),
        }
    }
    q.machine = machine;
    let q = q.kernel(if let Some(l) = &linux {
        l
    } else if use_elf {
        &elf
    } else if use_bare {
        &bare
    } else {
        &bin
    });
    if q.extra.iter().any(|a| a == "-S") {
        eprintln!("xtask: QEMU halted with a gdb stub on :1234; attach with");
        eprintln!("  gdb-multiarch {} -ex 'target remote :1234'", elf.display());
    }
    let st = q.command().status().map_err(|e| format!("qemu-system-arm: {e}"))?;
    Ok(st.code().unwrap_or(1) as u8)
}

/// `cargo run` lands here with the linked ELF: make the image from it and boot it.
pub fn runner(args: &[String]) -> Result<u8, String> {
    let elf = args.first().ok_or("qemu-elf needs the ELF path")?;
    let dir = Path::new(elf).parent().unwrap().join("image");
    let (_, bare, _) = crate::write_bare(Path::new(elf), &dir)?;
    let st = Qemu::new("virt,virtualization=on").kernel(&bare).command().status().map_err(|e| e.to_string())?;
    Ok(st.code().unwrap_or(1) as u8)
}

pub(crate) fn grab(out: &str, prefix: &str) -> Option<String> {
    out.lines().find(|l| l.contains(prefix)).map(str::to_string)
}

pub(crate) fn num_after(s: &str, key: &str) -> Option<u64> {
    let i = s.find(key)? + key.len();
    s[i..].trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// CPU seconds (user + system, all threads) process `pid` has used so far, from /proc.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    static CLK_TCK: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    let hz = (*CLK_TCK.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let mut f = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let ticks: u64 = f.next()?.parse::<u64>().ok()? + f.next()?.parse::<u64>().ok()?;
    Some(ticks as f64 / hz)
}

/// `cargo xtask bench`: deterministic instruction counts (QEMU -icount shift=0: one instruction
/// per virtual nanosecond, so CNTPCT ticks convert to instructions by 1e9 / CNTFRQ). Prints them
/// and writes `target/bench/report.json`.
pub fn bench() -> Result<u8, String> {
    let figures = measure(true)?;
    let entries: Vec<(&str, String)> = figures.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let report = merge_report(&entries)?;
    println!("report: {}", report.display());
    Ok(0)
}

/// Set `entries` in `target/bench/report.json` (a flat JSON object of numbers), keeping the keys
/// another command wrote there (`bench` and `bench --linux` each write their own). Returns its
/// path.
pub fn merge_report(entries: &[(&str, String)]) -> Result<std::path::PathBuf, String> {
    let dir = crate::root().join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("report.json");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let text = merged_report(&old, entries);
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

/// The report `old` with `entries` replaced or added (in their order, after the kept keys).
fn merged_report(old: &str, entries: &[(&str, String)]) -> String {
    let mut rows: Vec<(String, String)> = old
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().trim_end_matches(',').split_once(':')?;
            let k = k.trim().strip_prefix('"')?.strip_suffix('"')?;
            Some((k.to_string(), v.trim().to_string()))
        })
        .filter(|(k, _)| !entries.iter().any(|(e, _)| e == k))
        .collect();
    rows.extend(entries.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let body: Vec<String> = rows.iter().map(|(k, v)| format!("  \"{k}\": {v}")).collect();
    format!("{{\n{}\n}}\n", body.join(",\n"))
}

/// The deterministic figures, by the keys `docs/performance.md` and the report use.
pub fn measure(print: bool) -> Result<Vec<(&'static str, u64)>, String> {
    let imgs = images()?;
    let bin = imgs.bare;
    let bin_len = std::fs::metadata(&bin).map_err(|e| e.to_string())?.len();
    // The boot as a board runs it by default: the short log (test builds print the step-by-step
    // log unless told `hypfw.quiet`; that boot is measured too, below).
    let mut q = Qemu::new("virt,virtualization=on").kernel(&bin);
    q.extra.extend(["-icount".into(), "shift=0".into(), "-append".into(), "hypfw.quiet".into()]);
    let o = run_captured(&q, Duration::from_secs(60))?;
    if o.status != Some(0) {
        return Err(format!("benchmark boot failed:\n{}", o.output));
    }
    let ready = grab(&o.output, "cpu0 runtime ready").ok_or("no runtime ready line")?;
    let bench = grab(&o.output, "bench: hvc-null").ok_or("no bench line")?;
    let hz = num_after(&ready, " at ").ok_or("no CNTFRQ")?;
    let ins = |ticks: u64| ticks * 1_000_000_000 / hz;
    let entry_ready = num_after(&ready, "entry->ready").ok_or("no entry->ready")?;
    let p1 = num_after(&ready, "entry->phase1").ok_or("no entry->phase1")?;
    let p2 = num_after(&ready, "phase1->phase2").ok_or("no phase1->phase2")?;
    let n = num_after(&bench, "hvc-null").ok_or("no count")?;
    let calls = num_after(&bench, "round trips").ok_or("no ticks")?;
    let base = num_after(&bench, "baseline loop").ok_or("no baseline")?;
    let hvc = (ins(calls) - ins(base)) / n;
    // Secondaries: a second boot with two CPUs. With -icount the virtual clock counts the
    // instructions of all CPUs, so these include the boot CPU's polling while it waits.
    let mut q2 = Qemu::new("virt,virtualization=on").kernel(&bin);
    q2.smp = 2;
    q2.extra.extend(["-icount".into(), "shift=0".into(), "-append".into(), "hypfw.hotplug=0 hypfw.reinit=0".into()]);
    let o2 = run_captured(&q2, Duration::from_secs(60))?;
    let l = grab(&o2.output, "bench: cpu1 over").ok_or_else(|| format!("no cpu1 bench line:\n{}", o2.output))?;
    let cycles = num_after(&l, "over").filter(|&c| c > 0).ok_or("no cycle count")?;
    let on = num_after(&l, "runtime ready").ok_or("no CPU_ON ticks")?;
    let cycle = num_after(&l, "cycle ").ok_or("no cycle ticks")?;
    // Exits as the payload sees them: the self-test payload's loops (payload/src/bench.rs), each
    // against the same loop without the call.
    let mut q3 = Qemu::new("virt,virtualization=on").kernel(&imgs.bin);
    q3.extra.extend(["-icount".into(), "shift=0".into()]);
    let o3 = run_captured(&q3, Duration::from_secs(60))?;
    let l = grab(&o3.output, "payload: bench:").ok_or_else(|| format!("no payload bench line:\n{}", o3.output))?;
    let iters = num_after(&l, "bench:").filter(|&n| n > 0).ok_or("no iteration count")?;
    let empty = num_after(&l, "empty loop").ok_or("no empty loop")?;
    let per_call = |key: &str| -> Result<u64, String> {
        let t = num_after(&l, key).ok_or_else(|| format!("no {key} in {l}"))?;
        Ok(ins(t.saturating_sub(empty)) / iters)
    };
    let smc = per_call("smc-psci-version")?;
    let mut q4 = Qemu::new("virt,virtualization=on").kernel(&bin);
    q4.extra.extend(["-icount".into(), "shift=0".into()]);
    let o4 = run_captured(&q4, Duration::from_secs(60))?;
    let ready4 = grab(&o4.output, "cpu0 runtime ready").ok_or("no runtime ready line (full log)")?;
    let verbose = ins(num_after(&ready4, "entry->ready").ok_or("no entry->ready (full log)")?);
    let s2 = per_call("stage2-abort")?;
    // hypfw's memory: its region as the payload's device tree and stage 2 leave it out, from the
    // boot line that states it, with one CPU (the run above) and with eight (stopped at the line).
    let withheld = |out: &str| -> Result<u64, String> {
        let l = grab(out, "bytes withheld from the payload").ok_or_else(|| format!("no region line:\n{out}"))?;
        let head = &l[..l.find(" bytes withheld").unwrap()];
        head.rsplit(' ').next().and_then(|n| n.parse().ok()).ok_or_else(|| format!("no byte count in {l}"))
    };
    let mem1 = withheld(&o3.output)?;
    let mut q8 = Qemu::new("virt,virtualization=on").kernel(&imgs.bin);
    q8.smp = 8;
    let o8 = crate::linuxbench::run_marks(&q8, &["bytes withheld from the payload"], false, Duration::from_secs(60))?;
    let mem8 = withheld(&o8.console)?;
    if print {
        println!("image size: {bin_len} bytes ({})", bin.display());
        println!(
            "entry -> cpu0 runtime ready: {} instructions (entry->phase1 {}, phase1->phase2 {})",
            ins(entry_ready),
            ins(p1),
            ins(p2)
        );
        println!("  with the step-by-step log (test builds' default, or hypfw.verbose): {verbose} instructions");
        println!(
            "HVC null call round trip from SVC: {hvc} instructions per call ({n} calls: {calls} ticks vs {base} ticks for the same loop without HVC)"
        );
        println!(
            "secondary (PSCI): CPU_ON -> runtime ready {} instructions, one offline+online hotplug cycle {} instructions",
            ins(on) / cycles,
            ins(cycle) / cycles
        );
        println!(
            "from the payload ({iters} calls each): SMC PSCI_VERSION round trip {smc} instructions, stage-2 abort delivered back (the payload's abort handler included) {s2} instructions"
        );
        println!("hypfw's memory (withheld from the payload): {mem1} bytes with 1 CPU, {mem8} bytes with 8");
    }
    Ok(vec![
        ("image_bytes", bin_len),
        ("boot_instructions", ins(entry_ready)),
        ("boot_instructions_to_phase1", ins(p1)),
        ("boot_instructions_verbose", verbose),
        ("hvc_roundtrip_instructions", hvc),
        ("secondary_on_instructions", ins(on) / cycles),
        ("hotplug_cycle_instructions", ins(cycle) / cycles),
        ("smc_psci_version_instructions", smc),
        ("stage2_abort_instructions", s2),
        ("hyp_memory_bytes_smp1", mem1),
        ("hyp_memory_bytes_smp8", mem8),
    ])
}

/// The committed figures: rows of `docs/performance.md` whose second cell is a key in backticks
/// and whose third cell is the committed value.
pub fn committed_figures(doc: &str) -> Vec<(String, u64)> {
    doc.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let key = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            let v = cells.get(3)?.replace(',', "").parse().ok()?;
            Some((key.to_string(), v))
        })
        .collect()
}

/// The regression guard of the test command: each deterministic figure may not exceed its
/// committed value in `docs/performance.md` by more than 10 %.
pub fn guard() -> Result<bool, String> {
    let doc = std::fs::read_to_string(crate::root().join("docs/performance.md")).map_err(|e| e.to_string())?;
    let committed = committed_figures(&doc);
    let mut ok = true;
    for (key, now) in measure(false)? {
        match committed.iter().find(|(k, _)| k == key) {
            Some((_, c)) if now * 10 > c * 11 => {
                ok = false;
                println!(
                    "performance {key} ... FAILED: {now}, more than 10 % above the committed {c} (docs/performance.md)"
                );
            }
            Some((_, c)) => println!("performance {key} ... ok ({now}, committed {c})"),
            None => {
                ok = false;
                println!("performance {key} ... FAILED: {now}, and docs/performance.md commits no value for it");
            }
        }
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only rows with a key in backticks and a number are committed figures.
    /// A command's keys replace its own old values; the other command's keys stay.
    #[test]
    fn report_merges_keys() {
        let old = merged_report("", &[("boot_instructions", "400".into()), ("image_bytes", "1".into())]);
        assert_eq!(old, "{\n  \"boot_instructions\": 400,\n  \"image_bytes\": 1\n}\n");
        let both = merged_report(&old, &[("linux_boot_ratio", "1.010".into())]);
        let again = merged_report(&both, &[("boot_instructions", "390".into()), ("image_bytes", "2".into())]);
        assert_eq!(
            again,
            "{\n  \"linux_boot_ratio\": 1.010,\n  \"boot_instructions\": 390,\n  \"image_bytes\": 2\n}\n"
        );
    }

    #[test]
    fn committed_figures_are_read_from_the_table() {
        let doc = "| figure | key | committed | target |\n|---|---|---|---|\n\
                   | boot | `boot_instructions` | 423,120 | 100,000 |\n\
                   | Linux ratio | `linux_boot_ratio` | reported | 1.05 |\n\
                   text `x` | 5\n";
        assert_eq!(committed_figures(doc), vec![("boot_instructions".to_string(), 423_120)]);
    }
}
