//! `cargo xtask bench --linux`: Debian's armmp kernel and the busybox initramfs under hypfw against
//! the same kernel, initramfs and command line booted by QEMU directly.
//!
//! Wall time on these machines (2 cores shared with other work) moves by more than the difference
//! being measured, so the figures are QEMU's own CPU time (user + system, all threads, from /proc),
//! with fewer vCPU threads than host cores, over several alternated pairs, as medians with their
//! spread:
//!
//! - boot: `-smp 1`, QEMU start -> the initramfs's "userspace reached" line;
//! - hotplug: `-smp 2`, from that line to the end of 50 offline/online cycles of cpu1 (Linux's
//!   CPU_OFF / CPU_ON through hypfw's PSCI proxy, or QEMU's PSCI when booted directly).
//!
//! Wall times are printed beside them and never asserted. hypfw's own work before the kernel is
//! deterministic: an instruction count under `-icount shift=0`.

use crate::qemu::{Qemu, cpu_seconds, grab, merge_report, num_after};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const USERSPACE: &str = "init: userspace reached";
const HOTPLUG_DONE: &str = "offline/online cycles";
const CYCLES: u32 = 50;

/// Wall and CPU seconds at which each marker line appeared, and the console.
pub(crate) struct Marks {
    at: Vec<Option<(f64, f64)>>,
    pub(crate) console: String,
}

/// Start QEMU and note the wall and CPU seconds at the first line holding each of `marks`. Stops
/// QEMU once every marker was seen (or, with `to_end`, waits for it to exit: the exit summary
/// hypfw prints at power-off), or at `timeout`.
pub(crate) fn run_marks(q: &Qemu, marks: &[&str], to_end: bool, timeout: Duration) -> Result<Marks, String> {
    use std::io::BufRead;
    let mut child = q
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start qemu-system-arm: {e}"))?;
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

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 }
}

fn range(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
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
    let args = format!("console=ttyAMA0 rdinit=/init panic=-1 hypfw_test.cycles={CYCLES}");
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
            let h = run_marks(&q2, &[USERSPACE, HOTPLUG_DONE], under_hypfw, timeout)?;
            let ((uw, uc), (dw, dc)) = (h.at[0].unwrap(), h.at[1].unwrap());
            if !h.console.contains(&format!("init: {CYCLES} offline/online cycles of CPUs 1, 0 failures")) {
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
    println!();
    println!("Linux under hypfw vs booted directly: QEMU CPU seconds, median (min-max) of {n} alternated pairs");
    println!("| figure | hypfw | direct | ratio of medians | ratio per pair |");
    println!("|---|---|---|---|---|");
    println!("{}", boot.row("boot to userspace, -smp 1"));
    println!("{}", hot.row(&format!("{CYCLES} hotplug cycles of cpu1, -smp 2")));
    println!("{}", boot_wall.row("(wall) boot to userspace, -smp 1"));
    println!("{}", hot_wall.row(&format!("(wall) {CYCLES} hotplug cycles, -smp 2")));
    println!(
        "hypfw entry -> hand-over to the kernel (-icount shift=0): {prepayload} instructions ({} byte pack)",
        std::fs::metadata(&img).map_err(|e| e.to_string())?.len()
    );
    println!("hypfw's exits per CPU in a hotplug run (to power-off):\n{exits}");
    let report = merge_report(&[
        ("linux_boot_ratio", format!("{:.3}", boot.ratio())),
        ("linux_hotplug_ratio", format!("{:.3}", hot.ratio())),
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
    fn options() {
        let o = parse(&["--linux".into(), "--pairs".into(), "3".into()]).unwrap();
        assert_eq!((o.pairs, o.image), (3, None));
        assert!(parse(&["--pairs".into(), "0".into()]).is_err());
        assert!(parse(&["--bogus".into()]).is_err());
    }
}
