//! `cargo xtask bench --linux`: Debian's armmp kernel and the busybox initramfs under hypfw against
//! the same kernel, initramfs and command line booted by QEMU directly.
//!
//! The command line has `maxcpus=1 hypfw_test.end_offline`: the kernel boots on cpu0 alone, and
//! the initramfs brings cpu1 up, takes it offline and online 50 times, and takes it offline again
//! before power-off. It writes "init: hotplug start" and "init: hotplug end" through /dev/kmsg
//! around that, so both lines carry the kernel's timestamp.
//!
//! `linux_hotplug_ratio` is deterministic. Each side runs to its power-off under
//! `-icount shift=6,sleep=off`, once at `-smp 1` and once at `-smp 2`, with `-no-shutdown` so that
//! QEMU stops there and the bench reads QEMU's count of executed guest instructions (QMP
//! `query-replay`; idle time skipped by `sleep=off` adds nothing). `-seed` and a virtual-clock
//! RTC with a fixed date take out the two host inputs that differ between runs; with them,
//! repeated runs give the same counts. The figure is hypfw's (-smp 2 minus -smp 1) count over
//! direct's: cpu1's work, with the first bring-up and the last offline.
//!
//! Why this shape. With -icount QEMU runs the vCPUs in turn on one thread, and a vCPU that
//! spin-waits for the other keeps the thread until its slice ends, at most 100 ms of virtual
//! time. Booting both CPUs that way stalled in the kernel's first stop_machine (one vCPU never ran
//! again), so the kernel boots on one. At shift=0 a slice is 100 M instructions and the count was
//! mostly spinning (about 230 M instructions per cycle); at shift=6 a slice is 1.6 M and a cycle
//! about 6 M. The count cannot be read exactly at the marker lines while the guest runs, so it is
//! read at power-off, and the -smp 1 run (the same boot, with no CPU to cycle) is taken off.
//!
//! The count is the guest's work, Linux's and hypfw's. What two-stage translation costs QEMU
//! itself (its soft TLB) is not in it; the bench prints QEMU's soft-TLB flush counts beside it,
//! and QEMU's CPU time (user + system, all threads, from /proc) over alternated pairs as before:
//!
//! - boot: `-smp 1`, QEMU start -> the initramfs's "userspace reached" line (`linux_boot_ratio`);
//! - hotplug: `-smp 2`, between the two marker lines.
//!
//! Medians with their spread; wall times beside them, never asserted. hypfw's own work before the
//! kernel: an instruction count under `-icount shift=0`.

use crate::qemu::{Qemu, cpu_seconds, grab, merge_report, num_after};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const USERSPACE: &str = "init: userspace reached";
const HOTPLUG_START: &str = "init: hotplug start";
const HOTPLUG_END: &str = "init: hotplug end";
const CYCLES: u32 = 50;
/// `-icount shift=SHIFT`: one instruction is 2^SHIFT ns of virtual time. See the module comment
/// for why not 0.
const SHIFT: u32 = 6;

/// Wall and CPU seconds at which each marker line appeared, and the console.
pub(crate) struct Marks {
    at: Vec<Option<(f64, f64)>>,
    pub(crate) console: String,
}

/// Start QEMU with its console (stdout) piped to this process, stdin and stderr closed.
fn spawn_console(q: &Qemu) -> Result<std::process::Child, String> {
    q.command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start qemu-system-arm: {e}"))
}

/// Start QEMU and note the wall and CPU seconds at the first line holding each of `marks`. Stops
/// QEMU once every marker was seen (or, with `to_end`, waits for it to exit: the exit summary
/// hypfw prints at power-off), or at `timeout`.
pub(crate) fn run_marks(q: &Qemu, marks: &[&str], to_end: bool, timeout: Duration) -> Result<Marks, String> {
    use std::io::BufRead;
    let mut child = spawn_console(q)?;
    let start = Instant::now();
    let pid = child.id();
    let out = child.stdout.take().unwrap();
    let wanted: Vec<String> = marks.iter().map(|m| m.to_string()).collect();
    let (tx, rx) = mpsc::channel();
    // The CPU time is read on the reader thread, as soon as the line is there.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let sample = wanted
                .iter()
                .any(|m| line.contains(m.as_str()))
                .then(|| (start.elapsed().as_secs_f64(), cpu_seconds(pid).unwrap_or(f64::NAN)));
            if tx.send((line, sample)).is_err() {
                break;
            }
        }
    });
    let mut r = Marks { at: vec![None; marks.len()], console: String::new() };
    let finished = loop {
        let left = timeout.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok((line, sample)) => {
                if let Some(s) = sample {
                    for (i, m) in marks.iter().enumerate() {
                        if r.at[i].is_none() && line.contains(m) {
                            r.at[i] = Some(s);
                        }
                    }
                }
                r.console.push_str(&line);
                r.console.push('\n');
                if !to_end && r.at.iter().all(Option::is_some) {
                    break true;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break true,
            Err(mpsc::RecvTimeoutError::Timeout) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    if let Some(i) = r.at.iter().position(Option::is_none) {
        let why = if finished { "QEMU stopped" } else { "timed out" };
        let tail: Vec<&str> = r.console.lines().rev().take(15).collect();
        return Err(format!(
            "never saw \"{}\" ({why}); the console ended with:\n{}",
            marks[i],
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(r)
}

/// What QEMU counted in one run under `-icount`, read once the guest had powered off.
struct Counted {
    /// Guest instructions executed, all CPUs (QMP `query-replay`: QEMU's raw instruction
    /// counter, which idle time skipped over does not advance).
    instructions: u64,
    /// QEMU's "TLB partial flushes" (`info jit`): its soft TLB dropping entries by page or by
    /// translation regime.
    tlb_flushes: Option<u64>,
    console: String,
}

/// Send one QMP command and return its answer line (events in between are skipped).
fn qmp(w: &mut std::os::unix::net::UnixStream, r: &mut impl std::io::BufRead, cmd: &str) -> Result<String, String> {
    use std::io::Write;
    w.write_all(format!("{cmd}\n").as_bytes()).map_err(|e| format!("QMP: {e}"))?;
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).map_err(|e| format!("QMP: {e}"))? == 0 {
            return Err(format!("QMP closed after {cmd}"));
        }
        if l.contains("\"error\"") {
            return Err(format!("QMP {cmd}: {}", l.trim()));
        }
        if l.contains("\"return\"") {
            return Ok(l);
        }
    }
}

/// Run `q` under `-icount shift=SHIFT,sleep=off` with `-no-shutdown`, so that QEMU stops when the
/// guest powers off, and read its instruction count then through QMP.
fn counted(q: &Qemu, timeout: Duration) -> Result<Counted, String> {
    use std::io::{BufRead, BufReader, Read};
    use std::os::unix::net::UnixStream;
    let sock = std::env::temp_dir().join(format!("hypfw-linuxbench-{}.qmp", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let mut q = q.clone();
    q.extra.extend([
        "-icount".into(),
        format!("shift={SHIFT},sleep=off"),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", sock.display()),
        "-no-shutdown".into(),
        // What else differs between runs: the random seed QEMU puts in the device tree, and the
        // RTC's date (from the host, and advancing in host time).
        "-seed".into(),
        "1".into(),
        "-rtc".into(),
        "base=2020-01-01T00:00:00,clock=vm".into(),
    ]);
    let mut child = spawn_console(&q)?;
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        String::from_utf8_lossy(&s).replace('\r', "")
    });
    let start = Instant::now();
    let got = (|| -> Result<(u64, Option<u64>), String> {
        let mut w = loop {
            match UnixStream::connect(&sock) {
                Ok(s) => break s,
                Err(_) if start.elapsed() < Duration::from_secs(10) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(format!("QMP socket {}: {e}", sock.display())),
            }
        };
        w.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        let mut r = BufReader::new(w.try_clone().map_err(|e| e.to_string())?);
        let mut greeting = String::new();
        r.read_line(&mut greeting).map_err(|e| format!("QMP: {e}"))?;
        qmp(&mut w, &mut r, r#"{"execute":"qmp_capabilities"}"#)?;
        loop {
            let st = qmp(&mut w, &mut r, r#"{"execute":"query-status"}"#)?;
            if st.contains("\"shutdown\"") {
                break;
            }
            if !st.contains("\"running\"") {
                return Err(format!("QEMU stopped other than by the guest's power-off: {}", st.trim()));
            }
            if start.elapsed() > timeout {
                return Err(format!("timed out after {} s", timeout.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let replay = qmp(&mut w, &mut r, r#"{"execute":"query-replay"}"#)?;
        let n = num_after(&replay, "\"icount\":").ok_or_else(|| format!("no icount in {}", replay.trim()))?;
        let jit =
            qmp(&mut w, &mut r, r#"{"execute":"human-monitor-command","arguments":{"command-line":"info jit"}}"#)?;
        let _ = qmp(&mut w, &mut r, r#"{"execute":"quit"}"#);
        Ok((n, num_after(&jit, "TLB partial flushes")))
    })();
    // After `quit` QEMU ends by itself; anything else (an error, or a quit that went unheard) is
    // ended here.
    let quit_by = Instant::now() + Duration::from_secs(if got.is_ok() { 10 } else { 0 });
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < quit_by {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let console = reader.join().unwrap_or_default();
    let _ = std::fs::remove_file(&sock);
    match got {
        Ok((instructions, tlb_flushes)) => Ok(Counted { instructions, tlb_flushes, console }),
        Err(e) => {
            let tail: Vec<&str> = console.lines().rev().take(15).collect();
            Err(format!("{e}; the console ended with:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n")))
        }
    }
}

/// The kernel's timestamp, in seconds, of the first console line holding `marker`
/// (`[   12.345678] ...`).
fn printk_secs(console: &str, marker: &str) -> Option<f64> {
    let l = console.lines().find(|l| l.contains(marker))?;
    let (_, rest) = l.split_once('[')?;
    rest.split_once(']')?.0.trim().parse().ok()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

fn range(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// One side's deterministic figures.
struct Det {
    /// Instructions from QEMU's start to the guest's power-off at -smp 1.
    boot: u64,
    /// The -smp 2 run's instructions less the -smp 1 run's.
    hotplug: u64,
    /// Virtual seconds between the hotplug markers of the -smp 2 run (the kernel's timestamps).
    virt: f64,
    boot_flushes: Option<u64>,
    hotplug_flushes: Option<u64>,
}

/// One figure over the alternated pairs: hypfw's and direct's samples.
#[derive(Default)]
struct Series {
    hyp: Vec<f64>,
    direct: Vec<f64>,
}

impl Series {
    /// Ratio of the medians.
    fn ratio(&self) -> f64 {
        median(&self.hyp) / median(&self.direct)
    }
    fn pair_ratios(&self) -> Vec<f64> {
        self.hyp.iter().zip(&self.direct).map(|(h, d)| h / d).collect()
    }
    fn row(&self, name: &str) -> String {
        let (hl, hh) = range(&self.hyp);
        let (dl, dh) = range(&self.direct);
        let (rl, rh) = range(&self.pair_ratios());
        format!(
            "| {name} | {:.2} ({hl:.2}-{hh:.2}) | {:.2} ({dl:.2}-{dh:.2}) | {:.3} | {rl:.3}-{rh:.3} |",
            median(&self.hyp),
            median(&self.direct),
            self.ratio()
        )
    }
}

pub struct Opts {
    pub pairs: usize,
    /// A hypfw pack to measure instead of the one built from this tree (an experiment's build:
    /// it must carry the same kernel, initramfs and command line as `cargo xtask bench --linux`
    /// packs, which it prints).
    pub image: Option<PathBuf>,
}

pub fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts { pairs: 7, image: None };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--linux" => {}
            "--pairs" => {
                o.pairs = it.next().and_then(|v| v.parse().ok()).filter(|&n| n > 0).ok_or("--pairs N (N >= 1)")?
            }
            "--image" => o.image = Some(it.next().ok_or("--image PACKED.bin")?.into()),
            x => return Err(format!("bench --linux: unknown option {x} (--pairs N, --image PACKED.bin)")),
        }
    }
    Ok(o)
}

pub fn bench_linux(opts: &Opts) -> Result<u8, String> {
    let f = crate::linux::prepare()?;
    // One command line for both phases: at -smp 1 the initramfs has no CPU to cycle.
    // maxcpus=1: the kernel boots on cpu0 alone and the initramfs brings cpu1 up (see
    // `counted`); end_offline: cpu1 goes offline again before power-off.
    let args =
        format!("console=ttyAMA0 rdinit=/init panic=-1 hypfw_test.cycles={CYCLES} maxcpus=1 hypfw_test.end_offline");
    let img = match &opts.image {
        Some(p) => p.clone(),
        None => {
            let p = crate::image_dir().join("hypfw-linux-bench.bin");
            crate::pack_linux(&f.kernel, Some(&f.initrd), Some(&args), &p)?;
            p
        }
    };
    println!("kernel {}, initramfs {}, command line \"{args}\"", f.kernel.display(), f.initrd.display());
    println!("hypfw pack: {}", img.display());
    let hyp = |smp| {
        let mut q = Qemu::new("virt,virtualization=on").kernel(&img);
        q.smp = smp;
        q
    };
    let direct = |smp| {
        let mut q = Qemu::new("virt,virtualization=on").kernel(&f.kernel);
        q.smp = smp;
        q.extra.extend(["-initrd".into(), f.initrd.display().to_string(), "-append".into(), args.clone()]);
        q
    };
    let pass = format!("init: {CYCLES} offline/online cycles of CPUs 1, 0 failures");
    // Deterministic: each side to its power-off under -icount, once with one CPU and once with two.
    let mut det = Vec::new();
    for under_hypfw in [true, false] {
        let side = if under_hypfw { "hypfw " } else { "direct" };
        let run = |smp| counted(&if under_hypfw { hyp(smp) } else { direct(smp) }, Duration::from_secs(300));
        let (one, two) = (run(1)?, run(2)?);
        if !two.console.contains(&pass) {
            return Err(format!("the -icount hotplug run did not pass:\n{}", two.console));
        }
        let marks = (printk_secs(&two.console, HOTPLUG_START), printk_secs(&two.console, HOTPLUG_END));
        let (Some(s), Some(e)) = marks else { return Err(format!("no hotplug markers:\n{}", two.console)) };
        let d = Det {
            boot: one.instructions,
            hotplug: two
                .instructions
                .checked_sub(one.instructions)
                .ok_or("the -smp 2 run counted fewer instructions")?,
            virt: e - s,
            boot_flushes: one.tlb_flushes,
            hotplug_flushes: two.tlb_flushes.zip(one.tlb_flushes).map(|(t, o)| t.saturating_sub(o)),
        };
        eprintln!(
            "xtask: -icount {side}: {} instructions to power-off at -smp 1, {} more at -smp 2; {:.6} virtual s from hotplug start to end",
            d.boot, d.hotplug, d.virt
        );
        det.push(d);
    }
    let timeout = Duration::from_secs(180);
    let (mut boot, mut boot_wall, mut hot, mut hot_wall) =
        (Series::default(), Series::default(), Series::default(), Series::default());
    let mut exits = String::new();
    for pair in 1..=opts.pairs {
        // Alternated, and the order flips each pair so neither side always runs second.
        let order = if pair % 2 == 1 { [true, false] } else { [false, true] };
        for under_hypfw in order {
            let (q1, q2) = if under_hypfw { (hyp(1), hyp(2)) } else { (direct(1), direct(2)) };
            let b = run_marks(&q1, &[USERSPACE], false, timeout)?;
            let (bw, bc) = b.at[0].unwrap();
            let h = run_marks(&q2, &[HOTPLUG_START, HOTPLUG_END], under_hypfw, timeout)?;
            let ((uw, uc), (dw, dc)) = (h.at[0].unwrap(), h.at[1].unwrap());
            if !h.console.contains(&pass) {
                return Err(format!("the hotplug run did not pass:\n{}", h.console));
            }
            let side = if under_hypfw { "hypfw " } else { "direct" };
            eprintln!(
                "xtask: pair {pair}/{} {side}: boot {bc:.2} s CPU ({bw:.2} s wall), hotplug {:.2} s CPU ({:.2} s wall)",
                opts.pairs,
                dc - uc,
                dw - uw
            );
            let (s, sw, t, tw) = (&mut boot, &mut boot_wall, &mut hot, &mut hot_wall);
            let pick = |s: &mut Series, v| if under_hypfw { s.hyp.push(v) } else { s.direct.push(v) };
            pick(s, bc);
            pick(sw, bw);
            pick(t, dc - uc);
            pick(tw, dw - uw);
            if under_hypfw && exits.is_empty() {
                exits = h
                    .console
                    .lines()
                    .filter(|l| l.contains("inits,") && l.contains("SMCs"))
                    .map(|l| format!("  {}\n", l.trim_start_matches("hypfw:").trim()))
                    .collect();
            }
        }
    }
    // Deterministic: under -icount one instruction is one virtual nanosecond, so hypfw's own work
    // before the kernel runs (finding, copying and checksumming the pack, the tree, stage 2) is an
    // instruction count.
    let mut q = hyp(1);
    q.extra.extend(["-icount".into(), "shift=0".into()]);
    let o = run_marks(&q, &["cpu0 enters it at"], false, timeout)?;
    let ready = grab(&o.console, "cpu0 runtime ready").ok_or("no runtime ready line")?;
    let hz = num_after(&ready, " at ").ok_or("no CNTFRQ")?;
    let ticks = num_after(&ready, "entry->ready").ok_or("no entry->ready")?;
    let prepayload = ticks * 1_000_000_000 / hz;
    let n = opts.pairs;
    let (h, d) = (&det[0], &det[1]);
    let hot_ratio = h.hotplug as f64 / d.hotplug as f64;
    println!();
    println!(
        "Linux under hypfw vs booted directly, deterministic: -icount shift={SHIFT},sleep=off (an instruction is {} ns of virtual time, idle time is skipped), QEMU's counts at the guest's power-off",
        1u32 << SHIFT
    );
    println!("| figure | hypfw | direct | ratio |");
    println!("|---|---|---|---|");
    let row = |name: &str, a: u64, b: u64| println!("| {name} | {a} | {b} | {:.4} |", a as f64 / b as f64);
    row("instructions, QEMU start -> power-off, -smp 1 (boot; no CPU to cycle)", h.boot, d.boot);
    row(
        &format!(
            "instructions, -smp 2 minus -smp 1: cpu1 up, {CYCLES} offline/online cycles, down (`linux_hotplug_ratio`)"
        ),
        h.hotplug,
        d.hotplug,
    );
    println!(
        "| virtual seconds, hotplug start -> end, -smp 2 | {:.6} | {:.6} | {:.4} |",
        h.virt,
        d.virt,
        h.virt / d.virt
    );
    if let (Some(a), Some(b)) = (h.boot_flushes, d.boot_flushes) {
        row("QEMU soft-TLB flushes (by page or regime), -smp 1 run", a, b);
    }
    if let (Some(a), Some(b)) = (h.hotplug_flushes, d.hotplug_flushes) {
        row("QEMU soft-TLB flushes, -smp 2 minus -smp 1", a, b);
    }
    println!();
    println!("The same in QEMU CPU seconds (no -icount), median (min-max) of {n} alternated pairs");
    println!("| figure | hypfw | direct | ratio of medians | ratio per pair |");
    println!("|---|---|---|---|---|");
    println!("{}", boot.row("boot to userspace, -smp 1 (`linux_boot_ratio`)"));
    println!("{}", hot.row("hotplug start -> end, -smp 2"));
    println!("{}", boot_wall.row("(wall) boot to userspace, -smp 1"));
    println!("{}", hot_wall.row("(wall) hotplug start -> end, -smp 2"));
    println!(
        "hypfw entry -> hand-over to the kernel (-icount shift=0): {prepayload} instructions ({} byte pack)",
        std::fs::metadata(&img).map_err(|e| e.to_string())?.len()
    );
    println!("hypfw's exits per CPU in a hotplug run (to power-off):\n{exits}");
    let report = merge_report(&[
        ("linux_boot_ratio", format!("{:.3}", boot.ratio())),
        ("linux_hotplug_ratio", format!("{hot_ratio:.3}")),
        ("prepayload_instructions_linux", prepayload.to_string()),
    ])?;
    println!("report: {}", report.display());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let s = Series { hyp: vec![2.2, 2.0, 2.4], direct: vec![2.0, 2.0, 2.0] };
        assert!((s.ratio() - 1.1).abs() < 1e-9);
        assert_eq!(range(&s.pair_ratios()), (1.0, 1.2));
    }

    #[test]
    fn kernel_timestamps() {
        let c = "init: PASS\n[   21.237715] init: hotplug end; /proc/uptime 1 2\n[    0.5] init: hotplug start\n";
        assert_eq!(printk_secs(c, "init: hotplug end"), Some(21.237715));
        assert_eq!(printk_secs(c, "init: hotplug start"), Some(0.5));
        assert_eq!(printk_secs(c, "init: PASS"), None);
    }

    #[test]
    fn options() {
        let o = parse(&["--linux".into(), "--pairs".into(), "3".into()]).unwrap();
        assert_eq!((o.pairs, o.image), (3, None));
        assert!(parse(&["--pairs".into(), "0".into()]).is_err());
        assert!(parse(&["--bogus".into()]).is_err());
    }
}
