//! Linux as hypfw's payload: Debian's stock armhf `armmp` kernel and `busybox-static`, fetched
//! with apt into a cache under target/ (reused when present, so a mirror in the middle of a sync
//! cannot fail a run that already has them), and a tiny initramfs whose /init checks the CPUs,
//! cycles them offline and online, and powers off.

use crate::root;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct LinuxFiles {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// Kernel command line hypfw packs with the kernel.
pub const BOOTARGS: &str = "console=ttyAMA0 rdinit=/init panic=-1 hypfw_test.cycles=50";

fn cache() -> PathBuf {
    root().join("target/linux")
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn root_cmd(program: &str) -> Command {
    // As root (CI, these machines) directly, otherwise through sudo.
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    if is_root {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.arg(program);
        c
    }
}

/// `apt-get update` for the armhf lists, tolerating a partial failure (a mirror syncing): it is
/// retried, and only the look-up that follows decides whether the lists are usable.
fn apt_update() {
    for attempt in 1..=3 {
        let ok = root_cmd("apt-get").args(["update", "-q"]).status().is_ok_and(|s| s.success());
        if ok {
            return;
        }
        eprintln!("xtask: apt-get update failed (attempt {attempt}); going on with what it fetched");
        std::thread::sleep(std::time::Duration::from_secs(5 * attempt));
    }
}

/// Fetch the kernel package behind the metapackage `meta` (`linux-image-armmp`), and `others`,
/// with apt, and unpack them into `dir/root`.
fn fetch(dir: &Path, meta: &str, others: &[&str]) -> Result<(), String> {
    let archs = run(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    if !archs.lines().any(|a| a == "armhf") {
        run(root_cmd("dpkg").args(["--add-architecture", "armhf"]))?;
    }
    let show = || run(Command::new("apt-cache").args(["show", &format!("{meta}:armhf")]));
    let info = match show() {
        Ok(i) if !i.is_empty() => i,
        _ => {
            apt_update();
            show()?
        }
    };
    // The metapackage depends on the current versioned image package.
    let pkg = info
        .lines()
        .find_map(|l| l.strip_prefix("Depends: "))
        .and_then(|d| d.split([',', ' ']).find(|w| w.starts_with("linux-image-")))
        .ok_or_else(|| format!("cannot find the kernel package behind {meta}:armhf"))?
        .to_string();
    let mut pkgs = vec![format!("{pkg}:armhf")];
    pkgs.extend(others.iter().map(|o| format!("{o}:armhf")));
    eprintln!("xtask: fetching {} with apt", pkgs.join(" and "));
    let mut last = Err(String::new());
    for attempt in 1..=3 {
        last = run(Command::new("apt-get").current_dir(dir).arg("download").args(&pkgs));
        if last.is_ok() {
            break;
        }
        eprintln!("xtask: apt-get download failed (attempt {attempt}); updating the lists and retrying");
        apt_update();
    }
    last?;
    for deb in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        if deb.path().extension().is_some_and(|x| x == "deb") {
            run(Command::new("dpkg-deb").arg("-x").arg(deb.path()).arg(dir.join("root")))?;
            std::fs::remove_file(deb.path()).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The cached kernel and busybox, fetched if missing.
fn kernel_and_busybox() -> Result<(PathBuf, PathBuf), String> {
    let dir = cache();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let find = || -> Option<(PathBuf, PathBuf)> {
        let k = vmlinuz_in(&dir)?;
        let b = dir.join("root/bin/busybox");
        b.exists().then_some((k, b))
    };
    if let Some(f) = find() {
        return Ok(f);
    }
    fetch(&dir, "linux-image-armmp", &["busybox-static"])?;
    find().ok_or_else(|| "the fetched packages have no boot/vmlinuz-* or bin/busybox".into())
}

/// The kernel of Debian's other armhf flavour, `armmp-lpae` (LPAE page tables, RAM above 4 GiB,
/// highmem: what Debian installs on Cortex-A15/A7 boards), cached in its own folder and fetched
/// if missing. It boots with the same initramfs.
pub fn lpae_kernel() -> Result<PathBuf, String> {
    let dir = root().join("target/linux-lpae");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    if let Some(k) = vmlinuz_in(&dir) {
        return Ok(k);
    }
    fetch(&dir, "linux-image-armmp-lpae", &[])?;
    vmlinuz_in(&dir).ok_or_else(|| "the fetched LPAE kernel package has no boot/vmlinuz-*".into())
}

/// The kernel (`boot/vmlinuz-*`) of a package unpacked into `dir/root`.
fn vmlinuz_in(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir.join("root/boot"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
}

/// The folder of the cached kernel package that holds the board device trees, fetched if missing.
pub fn dtb_dir() -> Result<PathBuf, String> {
    kernel_and_busybox()?;
    let lib = cache().join("root/usr/lib");
    std::fs::read_dir(&lib)
        .map_err(|e| format!("{}: {e}", lib.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("linux-image-")))
        .ok_or_else(|| format!("no linux-image-* folder in {}", lib.display()))
}

/// The test's /init: a busybox shell script.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
[ -e /dev/kmsg ] || mknod /dev/kmsg c 1 11
cycles=$(sed -n 's/.*hypfw_test.cycles=\([0-9]*\).*/\1/p' /proc/cmdline)
[ -n "$cycles" ] || cycles=50
present=$(cat /sys/devices/system/cpu/present)
echo "init: userspace reached; CPUs present $present, online $(cat /sys/devices/system/cpu/online), uptime $(cut -d' ' -f1 /proc/uptime) s"
echo "init: /proc/cpuinfo lists $(grep -c ^processor /proc/cpuinfo) processors"
dmesg | grep -m1 "started in SVC mode" | sed 's/^/init: dmesg: /'
dmesg | grep -m2 -i "psci" | sed 's/^/init: dmesg: /'
fail=0
n=0
secondaries=$(ls -d /sys/devices/system/cpu/cpu[0-9]* | sed 's/.*cpu//' | grep -v '^0$')
# Through the kernel's log, so that the line carries its timestamp (microseconds).
echo "init: hotplug start; /proc/uptime $(cat /proc/uptime)" > /dev/kmsg
# CPUs left offline at boot (maxcpus=1) come up first.
for c in $secondaries; do
  [ "$(cat /sys/devices/system/cpu/cpu$c/online)" = 1 ] || echo 1 > /sys/devices/system/cpu/cpu$c/online || fail=$((fail+1))
done
for i in $(seq 1 $cycles); do
  for c in $secondaries; do
    echo 0 > /sys/devices/system/cpu/cpu$c/online || fail=$((fail+1))
    [ "$(cat /sys/devices/system/cpu/cpu$c/online)" = 0 ] || fail=$((fail+1))
    echo 1 > /sys/devices/system/cpu/cpu$c/online || fail=$((fail+1))
    [ "$(cat /sys/devices/system/cpu/cpu$c/online)" = 1 ] || fail=$((fail+1))
  done
  n=$i
  [ $((i % 100)) = 0 ] && echo "init: $i rounds done, $fail failures, uptime $(cut -d' ' -f1 /proc/uptime) s"
done
echo "init: $n offline/online cycles of CPUs $(echo $secondaries), $fail failures; online now $(cat /sys/devices/system/cpu/online); uptime $(cut -d' ' -f1 /proc/uptime) s"
if [ $fail = 0 ] && [ "$(cat /sys/devices/system/cpu/online)" = "$present" ]; then echo "init: PASS"; else echo "init: FAIL"; fi
# hypfw_test.end_offline: the secondaries go offline before power-off, so that no CPU is left
# for the kernel's power-off to wait on.
if grep -q hypfw_test.end_offline /proc/cmdline; then
  for c in $secondaries; do echo 0 > /sys/devices/system/cpu/cpu$c/online; done
fi
echo "init: hotplug end; /proc/uptime $(cat /proc/uptime)" > /dev/kmsg
# hypfw_test.reboot: end with a reboot instead (QEMU runs with -no-reboot, so a reset ends it).
if grep -q hypfw_test.reboot /proc/cmdline; then reboot -f; fi
poweroff -f
"#;

/// Append one cpio "newc" entry (the format Linux's initramfs unpacker reads).
fn cpio_entry(out: &mut Vec<u8>, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
    let pad = |out: &mut Vec<u8>| {
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    };
    let ino = out.len() as u32 + 1;
    let fields = [ino, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad(out);
    out.extend_from_slice(data);
    pad(out);
}

fn initramfs(busybox: &Path) -> Result<Vec<u8>, String> {
    let bb = std::fs::read(busybox).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for d in ["bin", "proc", "sys", "dev", "tmp"] {
        cpio_entry(&mut out, d, 0o040755, (0, 0), &[]);
    }
    cpio_entry(&mut out, "dev/console", 0o020600, (5, 1), &[]); // the kernel opens it for init
    cpio_entry(&mut out, "bin/busybox", 0o100755, (0, 0), &bb);
    cpio_entry(&mut out, "init", 0o100755, (0, 0), INIT.as_bytes());
    cpio_entry(&mut out, "TRAILER!!!", 0, (0, 0), &[]);
    Ok(out)
}

pub fn prepare() -> Result<LinuxFiles, String> {
    let (kernel, busybox) = kernel_and_busybox()?;
    let initrd = cache().join("initramfs.cpio");
    std::fs::write(&initrd, initramfs(&busybox)?).map_err(|e| e.to_string())?;
    Ok(LinuxFiles { kernel, initrd })
}

/// `cargo xtask soak [--cycles N]`: Linux on hypfw at -smp 4 takes CPUs 1-3 offline and online
/// in turn until at least N (default 1,000) CPU offline/online cycles are done, then powers off;
/// hypfw's per-CPU counters must match the cycles (each secondary: one init more than its
/// teardowns, a teardown per cycle; no stage-2 aborts or dirty arrivals) and its memory figures at
/// the end must equal those at the start (page pool use; the page tables unchanged).
pub fn soak(args: &[String]) -> Result<u8, String> {
    let mut cycles = 1000u64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cycles" => cycles = it.next().and_then(|v| v.parse().ok()).filter(|&n| n > 0).ok_or("--cycles N")?,
            o => return Err(format!("unknown option {o}")),
        }
    }
    const SECONDARIES: u64 = 3;
    let rounds = cycles.div_ceil(SECONDARIES);
    let f = prepare()?;
    let out = crate::image_dir().join("hypfw-linux-soak.bin");
    let args = format!("console=ttyAMA0 rdinit=/init panic=-1 hypfw_test.cycles={rounds}");
    crate::pack_linux(&f.kernel, Some(&f.initrd), Some(&args), &out)?;
    let mut q = crate::qemu::Qemu::new("virt,virtualization=on").kernel(&out);
    q.smp = 4;
    let timeout = std::time::Duration::from_secs(120 + rounds * 3);
    eprintln!(
        "xtask: soak: {rounds} rounds over CPUs 1-3 = {} offline/online cycles (timeout {} s)",
        rounds * SECONDARIES,
        timeout.as_secs()
    );
    let start = std::time::Instant::now();
    let o = crate::qemu::run_captured(&q, timeout)?;
    let secs = start.elapsed().as_secs_f64();
    let problems = soak_problems(&o.output, o.status, rounds);
    let log = crate::root().join("target/soak.log");
    std::fs::write(&log, &o.output).map_err(|e| e.to_string())?;
    for l in o.output.lines().filter(|l| {
        l.starts_with("init: ")
            || l.contains("exits per CPU")
            || l.contains("hypfw:   cpu")
            || l.contains("pool pages used")
            || l.contains("hypfw: memory:")
    }) {
        println!("  {l}");
    }
    println!(
        "soak: {} CPU offline/online cycles ({rounds} rounds over CPUs 1-3) in {secs:.1} s wall ({:.1} ms per cycle); console in {}",
        rounds * SECONDARIES,
        secs * 1000.0 / (rounds * SECONDARIES) as f64,
        log.display()
    );
    if problems.is_empty() {
        println!("soak: ok (counters consistent, memory figures unchanged)");
        Ok(0)
    } else {
        for p in &problems {
            println!("soak: FAILED: {p}");
        }
        Ok(1)
    }
}

/// The numbers of a `hypfw:   cpuN: ...` counter line: (inits, teardowns, HVCs, SMCs, stage-2
/// aborts, dirty arrivals).
fn counters(line: &str) -> Option<[u64; 6]> {
    let rest = line.split_once(": ").map(|(_, r)| r)?.split_once(": ")?.1;
    let v: Vec<u64> = rest.split(", ").filter_map(|p| p.split_whitespace().next()?.parse().ok()).collect();
    v.try_into().ok()
}

/// What is wrong with a soak run's console (empty: nothing).
fn soak_problems(out: &str, status: Option<i32>, rounds: u64) -> Vec<String> {
    let mut p = Vec::new();
    match status {
        None => p.push("timed out".to_string()),
        Some(0) => {}
        Some(c) => p.push(format!("QEMU exit status {c}, expected 0")),
    }
    let has = |t: &str| out.lines().any(|l| l.contains(t));
    for t in [
        format!("init: {rounds} offline/online cycles of CPUs 1 2 3, 0 failures; online now 0-3"),
        "init: PASS".to_string(),
        "hypfw: the payload powered the system off".to_string(),
    ] {
        if !has(&t) {
            p.push(format!("missing line: {t}"));
        }
    }
    for bad in ["fatal", "Kernel panic", "init: FAIL"] {
        if let Some(l) = out.lines().find(|l| l.contains(bad)) {
            p.push(format!("unwanted line: {l}"));
        }
    }
    for cpu in 0..4u64 {
        let tag = format!("hypfw:   cpu{cpu}: ");
        let Some(c) = out.lines().find(|l| l.starts_with(&tag)).and_then(counters) else {
            p.push(format!("no counter line for cpu{cpu}"));
            continue;
        };
        // cpu0 never leaves; each secondary: started once by Linux at boot, then once per round.
        let (inits, teardowns) = if cpu == 0 { (1, 0) } else { (rounds + 1, rounds) };
        if c[0] != inits || c[1] != teardowns {
            p.push(format!("cpu{cpu}: {} inits, {} teardowns, expected {inits} and {teardowns}", c[0], c[1]));
        }
        if c[4] != 0 || c[5] != 0 {
            p.push(format!("cpu{cpu}: {} stage-2 aborts, {} dirty arrivals, expected none", c[4], c[5]));
        }
        // Each CPU_OFF of a secondary is one SMC on it; cpu0 issues the CPU_ONs.
        let smcs_min = if cpu == 0 { rounds * 3 } else { rounds };
        if c[3] < smcs_min {
            p.push(format!("cpu{cpu}: {} SMCs, fewer than the {smcs_min} the cycles need", c[3]));
        }
    }
    // Memory: the pool use the runtime reported when it started equals the figure at power-off,
    // and the page tables are as they were when the payload started.
    let start = out
        .lines()
        .find(|l| l.contains("page-table pool pages used"))
        .and_then(|l| l.rsplit_once(", ")?.1.split_whitespace().next()?.parse::<u64>().ok());
    let end_line = out.lines().find(|l| l.contains("hypfw: memory: page pool"));
    let end = end_line.and_then(|l| l.split("page pool ").nth(1)?.split_whitespace().next()?.parse::<u64>().ok());
    match (start, end) {
        (Some(s), Some(e)) if s == e => {}
        (s, e) => p.push(format!("page pool use at the start {s:?}, at the end {e:?}")),
    }
    if !end_line.is_some_and(|l| l.contains("page tables unchanged")) {
        p.push(format!("memory line: {}", end_line.unwrap_or("missing")));
    }
    p
}

/// hypfw + kernel + initramfs in one image; returns its path.
pub fn packed_image() -> Result<(PathBuf, LinuxFiles), String> {
    let f = prepare()?;
    let out = crate::image_dir().join("hypfw-linux.bin");
    crate::pack_linux(&f.kernel, Some(&f.initrd), Some(BOOTARGS), &out)?;
    Ok((out, f))
}

/// As [`packed_image`] with Debian's LPAE kernel, 10 hotplug cycles; returns its path.
pub fn packed_lpae_image() -> Result<PathBuf, String> {
    pack_ten_cycles(&lpae_kernel()?, "ttyAMA0", false, "hypfw-linux-lpae.bin")
}

/// As [`packed_image`], for a board model whose console is `console` (`ttyS0`, `ttymxc0`, ...),
/// with 10 hotplug cycles; `console+reboot`: /init ends with a reboot instead of a power-off.
/// Returns its path.
pub fn packed_image_for(spec: &str) -> Result<PathBuf, String> {
    let (console, reboot) = match spec.strip_suffix("+reboot") {
        Some(c) => (c, true),
        None => (spec, false),
    };
    if console.is_empty() || !console.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("linux@{spec}: a console device name such as ttyS0, and +reboot"));
    }
    let name = format!("hypfw-linux-{console}{}.bin", if reboot { "-reboot" } else { "" });
    pack_ten_cycles(&kernel_and_busybox()?.0, console, reboot, &name)
}

/// `kernel` with the test initramfs, console=`console` and 10 hotplug cycles (then a reboot
/// instead of a power-off where `reboot`), packed with hypfw as `name` in the image folder.
fn pack_ten_cycles(kernel: &Path, console: &str, reboot: bool, name: &str) -> Result<PathBuf, String> {
    let f = prepare()?;
    let out = crate::image_dir().join(name);
    let mut args = BOOTARGS.replace("console=ttyAMA0", &format!("console={console}")).replace("cycles=50", "cycles=10");
    if reboot {
        args.push_str(" hypfw_test.reboot");
    }
    crate::pack_linux(kernel, Some(&f.initrd), Some(&args), &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "hypfw: runtime: entered from Non-secure HYP, image loaded at 0x40010000, runtime at 0xc0000000 (PA 0x7fe00000), 16 of 32 page-table pool pages used
init: 2 offline/online cycles of CPUs 1 2 3, 0 failures; online now 0-3
init: PASS
hypfw: the payload powered the system off; exits per CPU:
hypfw:   cpu0: 1 inits, 0 teardowns, 0 HVCs, 20 SMCs (PSCI), 0 stage-2 aborts, 0 dirty arrivals
hypfw:   cpu1: 3 inits, 2 teardowns, 0 HVCs, 5 SMCs (PSCI), 0 stage-2 aborts, 0 dirty arrivals
hypfw:   cpu2: 3 inits, 2 teardowns, 0 HVCs, 5 SMCs (PSCI), 0 stage-2 aborts, 0 dirty arrivals
hypfw:   cpu3: 3 inits, 2 teardowns, 0 HVCs, 5 SMCs (PSCI), 0 stage-2 aborts, 0 dirty arrivals
hypfw: memory: page pool 16 of 32 pages used, no heap; page tables unchanged since cpu0 entered the payload (fingerprint 0x1, now 0x1)
";

    /// The soak's checks pass a consistent log and catch each kind of inconsistency.
    #[test]
    fn soak_checks() {
        assert_eq!(soak_problems(GOOD, Some(0), 2), Vec::<String>::new());
        assert!(!soak_problems(GOOD, Some(0), 3).is_empty(), "cycle count");
        let bad = [
            ("cpu2: 3 inits, 2 teardowns", "cpu2: 4 inits, 2 teardowns"),
            (
                "cpu1: 3 inits, 2 teardowns, 0 HVCs, 5 SMCs (PSCI), 0 stage",
                "cpu1: 3 inits, 2 teardowns, 0 HVCs, 5 SMCs (PSCI), 1 stage",
            ),
            ("page pool 16 of", "page pool 17 of"),
            ("tables unchanged", "tables CHANGED"),
            ("init: PASS", "init: FAIL"),
        ];
        for (from, to) in bad {
            assert!(!soak_problems(&GOOD.replace(from, to), Some(0), 2).is_empty(), "{to}");
        }
        assert!(!soak_problems(GOOD, None, 2).is_empty());
    }
}
