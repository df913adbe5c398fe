//! The hostile mode of the self-test payload (`payload.hostile` in its /chosen/bootargs, so the one
//! image runs either mode): a payload that tries what a malicious or broken guest would, and
//! counts what hypfw does about it.
//!
//! 1. Page sweep: every 4 KiB page of hypfw's region (its /reserved-memory node) and of the GIC
//!    virtual interface control frame (GICH: the third `reg` entry of the GIC node, which hypfw
//!    passes on untouched) is read, written and executed; each access must take exactly one
//!    synchronous external abort, at the address accessed, and read nothing.
//! 2. CPU_ON with what PSCI says must be refused: target_cpu bits [31:24] set, CPUs that do not
//!    exist, entry points in hypfw's region, outside RAM or misaligned; double CPU_ON.
//! 3. Set/way cache maintenance (DCISW, DCCSW, DCCISW over every set and way of every data or
//!    unified level CLIDR reports) from SVC; hypfw must still answer afterwards.
//! 4. Seeded random HVC and SMC calls (`payload.seed=`, `payload.calls=`): random function IDs of
//!    every SMCCC range, hypfw's own IDs and the PSCI IDs with random arguments. Each call runs in
//!    `hostile_call` (hostile.S) with r4-r12, SP, LR, SP_usr, LR_usr and the CPSR flags set to
//!    random sentinels; all must come back unchanged, r0 must be what the rules below say, and
//!    r1-r3 must hold the defined results (or the caller's own values), never anything of hypfw's.
//!
//! Never called, whatever the generator draws (drawn ones are counted as excluded and drawn
//! again): the AArch32 (SMC32) IDs of every PSCI function that suspends, powers down, resets or
//! migrates a CPU or the system (CPU_SUSPEND, CPU_OFF, SYSTEM_OFF, SYSTEM_RESET, SYSTEM_RESET2,
//! SYSTEM_SUSPEND, CPU_FREEZE, CPU_DEFAULT_SUSPEND, MIGRATE, SYSTEM_OFF2), HYPFW_TEARDOWN (the
//! hand-over), and a CPU_ON that names a CPU which is off with an entry point that is valid (it
//! would really start that CPU). Their SMC64 forms are called: from AArch32 they must be
//! NOT_SUPPORTED.

use super::*;
use hypfw_core::mm::layout::MemRange;

core::arch::global_asm!(include_str!("hostile.S"), MAX_CPUS = const MAX_CPUS, STACK_SIZE = const STACK_SIZE);

unsafe extern "C" {
    fn hostile_call(frame: *mut Frame);
    fn hostile_secondary();
}

/// What `payload.hostile` asks for.
pub struct Options {
    pub seed: u64,
    pub calls: u32,
}

const DEFAULT_SEED: u64 = 0x6879_7066_1105_0002;
const DEFAULT_CALLS: u32 = 50_000;

fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The hostile mode's options, if the payload's /chosen/bootargs has the word `payload.hostile`.
pub fn requested(dtb: usize) -> Option<Options> {
    // SAFETY: the blob hypfw passed in r2, which read_platform already read the same way: a valid
    // tree in RAM that nothing writes while the payload runs.
    let fdt = unsafe { fdt::Fdt::from_ptr(dtb as *const u8) }.ok()?;
    let args = fdt.chosen().bootargs()?;
    if !args.split(' ').any(|w| w == "payload.hostile") {
        return None;
    }
    let word = |k: &str| args.split(' ').find_map(|w| w.strip_prefix(k)).and_then(number);
    Some(Options {
        seed: word("payload.seed=").unwrap_or(DEFAULT_SEED),
        calls: word("payload.calls=").map_or(DEFAULT_CALLS, |n| n as u32),
    })
}

/// The test tools' generator (`hypfw_core::rng`), with what the hostile calls draw.
struct Rng(hypfw_core::rng::Rng);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(hypfw_core::rng::Rng::new(seed))
    }
    fn u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    /// 0..n
    fn below(&mut self, n: u32) -> u32 {
        self.0.below(n)
    }
    /// True with probability pct %.
    fn pct(&mut self, pct: u32) -> bool {
        self.below(100) < pct
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.0.index(v.len())]
    }
}

// ---------------------------------------------------------------------------------------------
// One call, every register checked.

/// The frame `hostile_call` reads and fills (layout in hostile.S).
#[repr(C)]
#[derive(Default)]
struct Frame {
    conduit: u32,
    regs: [u32; 13],
    sp: u32,
    lr: u32,
    sp_usr: u32,
    lr_usr: u32,
    flags: u32,
    out: [u32; 13],
    out_sp: u32,
    out_lr: u32,
    out_sp_usr: u32,
    out_lr_usr: u32,
    out_cpsr: u32,
}

const C_HVC0: u32 = 0;
const C_SMC: u32 = 1;
const CONDUITS: [&str; 5] = ["HVC #0", "SMC #0", "HVC #1", "HVC #0xFFFF", "HVC #0x5A5A"];
/// CPSR bits the wrapper sets at random: N Z C V Q and GE[3:0].
const FLAGS: u32 = 0xF80F_0000;

/// Register failures of one call (bits), besides a wrong r0.
const BAD_R0: u32 = 1;
const BAD_R1_R3: u32 = 2;
const BAD_R4_R12: u32 = 4;
const BAD_SP_LR: u32 = 8;
const BAD_USR: u32 = 16;
const BAD_CPSR: u32 = 32;
const FAILURES: [&str; 6] = [
    "r0 not the expected answer",
    "r1-r3 neither the defined results nor the caller's",
    "r4-r12 changed",
    "SP or LR (SVC) changed",
    "SP_usr or LR_usr changed",
    "CPSR changed",
];

/// The answer classes counted.
const ANSWERS: [&str; 8] = [
    "value or SUCCESS",
    "NOT_SUPPORTED",
    "INVALID_PARAMETERS",
    "INVALID_ADDRESS",
    "ALREADY_ON",
    "ON_PENDING",
    "DENIED",
    "other error",
];

fn answer_class(r0: u32) -> usize {
    match r0 {
        ids::NOT_SUPPORTED => 1,
        ids::INVALID_PARAMETERS => 2,
        ids::INVALID_ADDRESS => 3,
        ids::ALREADY_ON => 4,
        ids::ON_PENDING => 5,
        ids::DENIED => 6,
        v if v as i32 >= -9 && (v as i32) < 0 => 7,
        _ => 0,
    }
}

/// What every call found, over the whole run.
#[derive(Default)]
struct Tally {
    calls: u32,
    by_conduit: [u32; 5],
    by_class: [u32; 3],
    answers: [u32; 8],
    /// r1-r3 held the defined results / the caller's values.
    r1_r3_defined: u32,
    r1_r3_callers: u32,
    failures: [u32; 6],
    failed_calls: u32,
    excluded: u32,
}

/// Make one call through `conduit` with `args` in r0-r3 and sentinels everywhere else; check the
/// registers against `expect` (r0-r3). Returns r0-r3 as the call left them.
fn call(t: &mut Tally, rng: &mut Rng, conduit: u32, args: [u32; 4], expect: [u32; 4], what: &str) -> [u32; 4] {
    call_accepting(t, rng, conduit, args, &[expect[0]], [expect[1], expect[2], expect[3]], what)
}

/// As [`call`], with any of `r0_ok` a right answer (a race decides which) and `rest` the defined
/// r1-r3.
fn call_accepting(
    t: &mut Tally,
    rng: &mut Rng,
    conduit: u32,
    args: [u32; 4],
    r0_ok: &[u32],
    rest: [u32; 3],
    what: &str,
) -> [u32; 4] {
    let mut f = Frame { conduit, ..Default::default() };
    f.regs[..4].copy_from_slice(&args);
    for r in &mut f.regs[4..] {
        *r = rng.u32();
    }
    (f.sp, f.lr, f.sp_usr, f.lr_usr) = (rng.u32(), rng.u32(), rng.u32(), rng.u32());
    f.flags = rng.u32() & FLAGS;
    let cpsr_expected = (cpsr() & !FLAGS) | f.flags;
    // SAFETY: hostile_call saves the callee-saved registers and the real SP, makes the one call
    // with the frame's registers (nothing at PL1 uses SP or LR meanwhile: interrupts are masked)
    // and restores them; it writes only the frame and its own two words.
    unsafe { hostile_call(&mut f) };
    let out = [f.out[0], f.out[1], f.out[2], f.out[3]];
    let mut bad = 0;
    if !r0_ok.contains(&out[0]) {
        bad |= BAD_R0;
    }
    if out[1..] == rest {
        t.r1_r3_defined += 1;
    } else if out[1..] == args[1..] {
        t.r1_r3_callers += 1;
    } else {
        bad |= BAD_R1_R3;
    }
    if f.out[4..] != f.regs[4..] {
        bad |= BAD_R4_R12;
    }
    if (f.out_sp, f.out_lr) != (f.sp, f.lr) {
        bad |= BAD_SP_LR;
    }
    if (f.out_sp_usr, f.out_lr_usr) != (f.sp_usr, f.lr_usr) {
        bad |= BAD_USR;
    }
    if f.out_cpsr != cpsr_expected {
        bad |= BAD_CPSR;
    }
    t.calls += 1;
    t.by_conduit[conduit as usize] += 1;
    t.answers[answer_class(out[0])] += 1;
    if bad != 0 {
        t.failed_calls += 1;
        for (i, n) in t.failures.iter_mut().enumerate() {
            if bad & (1 << i) != 0 {
                *n += 1;
            }
        }
        if t.failed_calls <= 12 {
            say!(
                "call #{} FAILED ({what}, {}): r0-r3 {:08x?} -> {:08x?}, expected r0 in {:08x?}, r1-r3 {:08x?}; r4-r12 {:08x?} -> {:08x?}; \
                 SP/LR {:#x}/{:#x} -> {:#x}/{:#x}; usr {:#x}/{:#x} -> {:#x}/{:#x}; CPSR {:#x} -> {:#x}",
                t.calls,
                CONDUITS[conduit as usize],
                args,
                out,
                r0_ok,
                rest,
                &f.regs[4..],
                &f.out[4..],
                f.sp,
                f.lr,
                f.out_sp,
                f.out_lr,
                f.sp_usr,
                f.lr_usr,
                f.out_sp_usr,
                f.out_lr_usr,
                cpsr_expected,
                f.out_cpsr
            );
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// What hypfw must answer: the SMCCC and PSCI rules, and hypfw's documented interface.

const NS: u32 = hvc::NOT_SUPPORTED;
/// PSCI SYSTEM_OFF2 (PSCI 1.3), not in the smccc crate.
const SYSTEM_OFF2_32: u32 = 0x8400_0015;
const SYSTEM_OFF2_64: u32 = 0xC400_0015;
const SMCCC_ARCH_WORKAROUND_1: u32 = 0x8000_8000;

/// The calls never made (see the module comment).
const EXCLUDED: [u32; 11] = [
    psci::PSCI_CPU_SUSPEND_32,
    psci::PSCI_CPU_OFF,
    psci::PSCI_SYSTEM_OFF,
    psci::PSCI_SYSTEM_RESET,
    psci::PSCI_SYSTEM_RESET2_32,
    psci::PSCI_SYSTEM_SUSPEND_32,
    psci::PSCI_CPU_FREEZE,
    psci::PSCI_CPU_DEFAULT_SUSPEND_32,
    psci::PSCI_MIGRATE_32,
    SYSTEM_OFF2_32,
    hvc::HYPFW_TEARDOWN,
];

/// The PSCI functions hypfw implements (PSCI_FEATURES answers 0 for them).
const PSCI_IMPLEMENTED: [u32; 10] = [
    ids::PSCI_VERSION,
    ids::CPU_SUSPEND,
    ids::CPU_OFF,
    ids::CPU_ON,
    ids::AFFINITY_INFO,
    ids::MIGRATE_INFO_TYPE,
    ids::SYSTEM_OFF,
    ids::SYSTEM_RESET,
    ids::PSCI_FEATURES,
    hvc::SMCCC_VERSION,
];

/// Every PSCI function ID of DEN 0022 (32- and 64-bit forms) and the SMCCC/hypfw IDs: what the
/// generator draws PSCI and PSCI_FEATURES arguments from.
const KNOWN_IDS: [u32; 43] = [
    psci::PSCI_VERSION,
    psci::PSCI_CPU_SUSPEND_32,
    psci::PSCI_CPU_SUSPEND_64,
    psci::PSCI_CPU_OFF,
    psci::PSCI_CPU_ON_32,
    psci::PSCI_CPU_ON_64,
    psci::PSCI_AFFINITY_INFO_32,
    psci::PSCI_AFFINITY_INFO_64,
    psci::PSCI_MIGRATE_32,
    psci::PSCI_MIGRATE_64,
    psci::PSCI_MIGRATE_INFO_TYPE,
    psci::PSCI_MIGRATE_INFO_UP_CPU_32,
    psci::PSCI_MIGRATE_INFO_UP_CPU_64,
    psci::PSCI_SYSTEM_OFF,
    psci::PSCI_SYSTEM_RESET,
    psci::PSCI_SYSTEM_RESET2_32,
    psci::PSCI_SYSTEM_RESET2_64,
    psci::PSCI_MEM_PROTECT,
    psci::PSCI_MEM_PROTECT_CHECK_RANGE_32,
    psci::PSCI_MEM_PROTECT_CHECK_RANGE_64,
    psci::PSCI_FEATURES,
    psci::PSCI_CPU_FREEZE,
    psci::PSCI_CPU_DEFAULT_SUSPEND_32,
    psci::PSCI_CPU_DEFAULT_SUSPEND_64,
    psci::PSCI_NODE_HW_STATE_32,
    psci::PSCI_NODE_HW_STATE_64,
    psci::PSCI_SYSTEM_SUSPEND_32,
    psci::PSCI_SYSTEM_SUSPEND_64,
    psci::PSCI_SET_SUSPEND_MODE,
    psci::PSCI_STAT_RESIDENCY_32,
    psci::PSCI_STAT_RESIDENCY_64,
    psci::PSCI_STAT_COUNT_32,
    psci::PSCI_STAT_COUNT_64,
    SYSTEM_OFF2_32,
    SYSTEM_OFF2_64,
    hvc::SMCCC_VERSION,
    hvc::SMCCC_ARCH_FEATURES,
    SMCCC_ARCH_WORKAROUND_1,
    hvc::HYPFW_VERSION,
    hvc::HYPFW_NULL,
    hvc::HYPFW_CALL_UID,
    hvc::HYPFW_REVISION,
    hvc::HYPFW_REINIT,
];

/// The machine as the oracle needs it.
struct World<'a> {
    cpus: &'a [u32],
    /// CPUs on for the payload (cpu0, and those the hostile mode started).
    on: [bool; MAX_CPUS],
    /// hypfw can start CPUs (the tree's /psci is by SMC): else CPU_ON is NOT_SUPPORTED.
    cpu_on: bool,
    /// The payload's RAM: the banks of its /memory (hypfw's region already cut out).
    ram: &'a [MemRange],
}

impl World<'_> {
    /// Logical index of a PSCI target_cpu: bits [31:24] must be zero (DEN 0022 5.1.4), and
    /// Aff2.Aff1.Aff0 must name a CPU of the tree.
    fn cpu(&self, target: u32) -> Option<usize> {
        if target & 0xFF00_0000 != 0 {
            return None;
        }
        self.cpus.iter().position(|&m| m & 0x00FF_FFFF == target)
    }
    /// A CPU_ON entry point hypfw must accept: the first instruction word [entry & ~1, +4) lies in
    /// the payload's RAM, and an ARM (even) entry is word-aligned.
    fn entry_ok(&self, entry: u32) -> bool {
        let pc = (entry & !1) as u64;
        let aligned = entry & 1 != 0 || entry & 3 == 0;
        aligned && self.ram.iter().any(|m| m.base <= pc && pc + 4 <= m.end())
    }
    /// Would this call change the machine (so it is never made)?
    fn excluded(&self, r: [u32; 4]) -> bool {
        EXCLUDED.contains(&r[0])
            || r[0] == ids::CPU_ON && self.cpu(r[1]).is_some_and(|c| !self.on[c]) && self.entry_ok(r[2])
    }

    /// r0-r3 after the call.
    fn expect(&self, conduit: u32, r: [u32; 4]) -> [u32; 4] {
        let owner = (r[0] >> 24) & 0x3F;
        match conduit {
            // hypfw takes every trapped SMC as PSCI (the tree names SMC as PSCI's conduit), and
            // answers PSCI by HVC #0 too (owner 4, standard secure service).
            C_SMC => [self.psci(r), 0, 0, 0],
            C_HVC0 if owner == hvc::OWNER_STANDARD_SECURE => [self.psci(r), 0, 0, 0],
            C_HVC0 => smccc(r),
            // SMCCC calls are HVC #0 only: any other immediate is not a call hypfw knows.
            _ => [NS, 0, 0, 0],
        }
    }

    fn psci(&self, r: [u32; 4]) -> u32 {
        match r[0] {
            ids::PSCI_VERSION => ids::VERSION_1_0,
            // Where nothing can start a CPU, nothing can stop one either (hypfw denies CPU_OFF).
            ids::PSCI_FEATURES if (r[1] == ids::CPU_ON || r[1] == ids::CPU_OFF) && !self.cpu_on => NS,
            ids::PSCI_FEATURES if PSCI_IMPLEMENTED.contains(&r[1]) => ids::SUCCESS,
            ids::PSCI_FEATURES => NS,
            ids::MIGRATE_INFO_TYPE => ids::MIGRATE_NONE,
            hvc::SMCCC_VERSION => hvc::SMCCC_VERSION_1_1,
            hvc::SMCCC_ARCH_FEATURES => arch_features(r[1]),
            // Only level 0 (one CPU) is answered.
            ids::AFFINITY_INFO if r[2] != 0 => ids::INVALID_PARAMETERS,
            ids::AFFINITY_INFO => match self.cpu(r[1]) {
                None => ids::INVALID_PARAMETERS,
                Some(c) if self.on[c] => ids::AFF_ON,
                Some(_) => ids::AFF_OFF,
            },
            // The arguments are checked before the target's power state.
            ids::CPU_ON => match self.cpu(r[1]) {
                None => ids::INVALID_PARAMETERS,
                Some(_) if !self.entry_ok(r[2]) => ids::INVALID_ADDRESS,
                Some(_) if !self.cpu_on => NS,
                Some(c) if self.on[c] => ids::ALREADY_ON,
                Some(_) => ids::SUCCESS,
            },
            _ => NS,
        }
    }
}

fn arch_features(fid: u32) -> u32 {
    if fid == hvc::SMCCC_VERSION || fid == hvc::SMCCC_ARCH_FEATURES { 0 } else { NS }
}

/// HVC #0 outside the PSCI range: the SMCCC architecture calls and hypfw's vendor-hypervisor
/// service (core/src/services/hvc.rs documents each answer).
fn smccc(r: [u32; 4]) -> [u32; 4] {
    let fid = r[0];
    // Yielding calls are not offered; SMC64/HVC64 IDs are not calls an AArch32 caller can make.
    if fid & (1 << 31) == 0 || fid & (1 << 30) != 0 {
        return [NS, 0, 0, 0];
    }
    match fid {
        hvc::SMCCC_VERSION => [hvc::SMCCC_VERSION_1_1, 0, 0, 0],
        hvc::SMCCC_ARCH_FEATURES => [arch_features(r[1]), 0, 0, 0],
        hvc::HYPFW_VERSION => [hvc::HYPFW_API_VERSION, 0, 0, 0],
        hvc::HYPFW_NULL => [0; 4],
        // VERSION, NULL, TEARDOWN, REINIT.
        hvc::HYPFW_CALL_COUNT => [4, 0, 0, 0],
        hvc::HYPFW_CALL_UID => hvc::HYPFW_UID,
        hvc::HYPFW_REVISION => [0, 1, 0, 0],
        // HYPFW_REINIT is answered only by the stub of a torn-down CPU.
        _ => [NS, 0, 0, 0],
    }
}

// ---------------------------------------------------------------------------------------------
// The generator.

const CLASSES: [&str; 3] = ["random function IDs", "hypfw's HVC IDs", "PSCI IDs"];

/// A target_cpu for CPU_ON / AFFINITY_INFO: bits [31:24] set, a CPU that does not exist, a CPU
/// that is on, or one that is off.
fn target(rng: &mut Rng, w: &World) -> u32 {
    let real = w.cpus[rng.below(w.cpus.len() as u32) as usize];
    match rng.below(4) {
        0 => real | (rng.u32() | 0x0100_0000) & 0xFF00_0000,
        1 => loop {
            let t = if rng.pct(50) { rng.u32() & 0x00FF_FFFF } else { rng.below(0x10) << (8 * rng.below(3)) };
            if w.cpu(t).is_none() {
                break t;
            }
        },
        _ => real,
    }
}

/// A CPU_ON entry point: random, in the payload's RAM, at the edges of its banks and of hypfw's
/// region, or inside hypfw's region.
fn entry(rng: &mut Rng, w: &World, hypfw: (u64, u64)) -> u32 {
    if w.ram.is_empty() {
        return rng.u32();
    }
    let bank = w.ram[rng.below(w.ram.len() as u32) as usize];
    match rng.below(4) {
        0 => rng.u32(),
        1 => (bank.base + (rng.u32() as u64 % bank.size)) as u32 & !3 | rng.below(4),
        2 => {
            let edge = rng.pick(&[bank.base, bank.end(), hypfw.0, hypfw.0 + hypfw.1]) as u32;
            edge.wrapping_add(rng.below(12)).wrapping_sub(6)
        }
        _ => (hypfw.0 + rng.u32() as u64 % hypfw.1) as u32,
    }
}

/// One random call: (class, conduit, r0-r3).
fn draw(rng: &mut Rng, w: &World, hypfw: (u64, u64)) -> (usize, u32, [u32; 4]) {
    let mut r = [0, rng.u32(), rng.u32(), rng.u32()];
    let class = rng.below(10);
    if class < 4 {
        // Any owner, fast or yielding, 32 or 64; function numbers near the bottom of a range, at
        // the general queries (0xFF00..) or anywhere; bits [23:16] mostly zero, as SMCCC wants.
        let number = match rng.below(4) {
            0 | 1 => rng.below(0x20),
            2 => 0xFF00 + rng.below(4),
            _ => rng.below(0x1_0000),
        };
        let middle = if rng.pct(25) { rng.u32() & 0x00FF_0000 } else { 0 };
        r[0] = (rng.u32() & 0xC000_0000) | (rng.below(64) << 24) | middle | number;
        let conduit = match rng.below(20) {
            0..9 => C_HVC0,
            9..18 => C_SMC,
            _ => 2 + rng.below(3),
        };
        (0, conduit, r)
    } else if class < 7 {
        r[0] = match rng.below(12) {
            0 => hvc::fast32(hvc::OWNER_VENDOR_HYP, 0x12 + rng.below(0xFEEE) as u16),
            1 => SMCCC_ARCH_WORKAROUND_1,
            n => [
                hvc::SMCCC_VERSION,
                hvc::SMCCC_ARCH_FEATURES,
                hvc::HYPFW_VERSION,
                hvc::HYPFW_NULL,
                hvc::HYPFW_CALL_COUNT,
                hvc::HYPFW_CALL_UID,
                hvc::HYPFW_REVISION,
                hvc::HYPFW_REINIT,
                hvc::HYPFW_VERSION,
                hvc::HYPFW_NULL,
            ][n as usize - 2],
        };
        // The same IDs as yielding or 64-bit calls now and then: never answered.
        if rng.pct(10) {
            r[0] ^= rng.pick(&[1 << 31, 1 << 30]);
        }
        if r[0] == hvc::SMCCC_ARCH_FEATURES && rng.pct(60) {
            r[1] = rng.pick(&KNOWN_IDS);
        }
        let conduit = match rng.below(10) {
            0..7 => C_HVC0,
            7..9 => C_SMC,
            _ => 2 + rng.below(3),
        };
        (1, conduit, r)
    } else {
        r[0] = match rng.below(8) {
            0 => ids::PSCI_VERSION,
            1 => ids::PSCI_FEATURES,
            2 => ids::MIGRATE_INFO_TYPE,
            3 | 4 => ids::AFFINITY_INFO,
            5 | 6 => ids::CPU_ON,
            _ => rng.pick(&KNOWN_IDS),
        };
        match r[0] {
            ids::PSCI_FEATURES if rng.pct(70) => r[1] = rng.pick(&KNOWN_IDS),
            ids::AFFINITY_INFO => {
                r[1] = target(rng, w);
                if rng.pct(70) {
                    r[2] = 0;
                }
            }
            ids::CPU_ON => {
                r[1] = target(rng, w);
                r[2] = entry(rng, w, hypfw);
            }
            _ => {}
        }
        let conduit = match rng.below(20) {
            0..14 => C_SMC,
            14..19 => C_HVC0,
            _ => 2 + rng.below(3),
        };
        (2, conduit, r)
    }
}

// ---------------------------------------------------------------------------------------------
// The run.

/// The hostile mode: every part, then the summary. The caller prints the verdict.
pub fn run(c: &mut Checks, p: &Platform, o: &Options, dtb: usize) {
    // SAFETY: the blob hypfw passed (read_platform read it already): its header's total size.
    let blob = unsafe {
        let fdt = fdt::Fdt::from_ptr(dtb as *const u8).unwrap();
        core::slice::from_raw_parts(dtb as *const u8, fdt.total_size())
    };
    let d = hypfw_core::platform::dtb::describe(blob).ok();
    let ram: &[MemRange] = d.as_ref().map_or(&[], |d| d.platform.ram());
    let gich = d.as_ref().and_then(|d| d.platform.gic).and_then(|g| g.hyp);
    say!(
        "hostile mode: seed {:#x}, {} random calls, {} CPU(s), hypfw's region {:#x}..{:#x}, payload RAM {:x?}",
        o.seed,
        o.calls,
        p.ncpus,
        p.hypfw.0,
        p.hypfw.0 + p.hypfw.1,
        ram
    );
    let mut rng = Rng::new(o.seed);
    let mut t = Tally::default();
    let mut w = World { cpus: &p.cpus[..p.ncpus], on: [false; MAX_CPUS], cpu_on: p.psci, ram };
    w.on[0] = true;

    let pages = sweep_all(c, &mut rng, p, gich);
    release_block(c, p, d.as_ref().and_then(|d| d.platform.cpu_release));
    let cases = cpu_on_cases(c, &mut rng, &mut t, &mut w, p);
    let setway = set_way(c, &mut rng, &mut t);
    random_calls(c, &mut rng, &mut t, &w, p, o);

    // Still up, and nothing started behind the oracle's back.
    let v = call(&mut t, &mut rng, C_HVC0, [hvc::HYPFW_VERSION, 0, 0, 0], [1, 0, 0, 0], "liveness");
    c.check("hostile: hypfw still answers HYPFW_VERSION at the end", v[0] == 1, format_args!("{:#x}", v[0]));
    let mut states = [0u32; MAX_CPUS];
    let mut agree = true;
    for (i, &m) in w.cpus.iter().enumerate() {
        let want = if w.on[i] { ids::AFF_ON } else { ids::AFF_OFF };
        states[i] = call(&mut t, &mut rng, psci_conduit(), [ids::AFFINITY_INFO, m, 0, 0], [want, 0, 0, 0], "end")[0];
        agree &= states[i] == want;
    }
    c.check(
        "hostile: every CPU in the power state the payload put it in",
        agree,
        format_args!("AFFINITY_INFO {:?} (0 on, 1 off), on {:?}", &states[..p.ncpus], &w.on[..p.ncpus]),
    );
    c.check(
        "hostile: no call answered wrong, clobbered a register or leaked a value",
        t.failed_calls == 0,
        format_args!("{} of {} calls failed", t.failed_calls, t.calls),
    );
    say!(
        "hostile summary: {} calls survived ({} random, seed {:#x}), {} pages swept ({} of hypfw's region + {} of GICH) \
         x read/write/fetch, {} CPU_ON cases, {} set/way operations",
        t.calls,
        o.calls,
        o.seed,
        pages.0 + pages.1,
        pages.0,
        pages.1,
        cases,
        setway
    );
}

/// Whether an SMC reaches hypfw here. A CPU with the Virtualization Extensions has the Security
/// Extensions (ID_PFR1.Security, bits [7:4]), and hypfw traps its SMCs. QEMU's models without EL3
/// leave them out, and there SMC traps only where QEMU provides PSCI by SMC (virt: hypfw's tree
/// then says PSCI is by SMC); elsewhere (vexpress-a15 with secure=off) it is undefined.
fn smc_exists() -> bool {
    let pfr1: u32;
    // SAFETY: reading an ID register, which PL1 may do.
    unsafe { core::arch::asm!("mrc p15, 0, {0}, c0, c1, 1", out(reg) pfr1, options(nomem, nostack)) };
    pfr1 & 0xF0 != 0 || !PSCI_BY_HVC.load(Ordering::Relaxed)
}

fn psci_conduit() -> u32 {
    if PSCI_BY_HVC.load(Ordering::Relaxed) { C_HVC0 } else { C_SMC }
}

// ---------------------------------------------------------------------------------------------
// 1. Page sweep.

/// Short-descriptor DFSR/IFSR of the synchronous external abort hypfw injects (FS 0b01000), with
/// WnR for a write: the payload runs with TTBCR.EAE = 0 and no stage-1 walk.
const FSR_EXTERNAL: u32 = 0x008;
const FSR_WNR: u32 = 1 << 11;

#[derive(Default)]
struct Sweep {
    pages: u32,
    /// Accesses that aborted as they must, per kind (read, write, fetch).
    aborted: [u32; 3],
    /// Accesses that did not abort (the worst), or aborted more than once.
    not_aborted: u32,
    /// Aborted, but with the wrong fault address or status, or with a value read.
    wrong: u32,
}

impl Sweep {
    /// Count one access of `kind`: it took exactly one abort (`once`), with the right fault
    /// address and status (`right`); else `report` it.
    fn tally(&mut self, kind: usize, once: bool, right: bool, report: impl FnOnce()) {
        match (once, right) {
            (true, true) => self.aborted[kind] += 1,
            (true, false) => {
                self.wrong += 1;
                report()
            }
            (false, _) => {
                self.not_aborted += 1;
                report()
            }
        }
    }
}

fn sweep_all(c: &mut Checks, rng: &mut Rng, p: &Platform, gich: Option<(u64, u64)>) -> (u32, u32) {
    let s = sweep(rng, p.hypfw, "hypfw's region");
    let check = "hostile: every page of hypfw's region aborts on read, write and fetch";
    report_sweep(c, check, "hypfw's region", p.hypfw, &s);
    let g = match gich {
        Some(g) => {
            let s = sweep(rng, g, "GICH");
            let check = "hostile: every page of the GICH frame aborts on read, write and fetch";
            report_sweep(c, check, "the GICH frame (GIC node reg entry 3)", g, &s);
            s.pages
        }
        None => {
            say!("hostile: the payload's device tree gives no GICH frame (GIC reg entry 3): not swept");
            0
        }
    };
    (s.pages, g)
}

fn report_sweep(c: &mut Checks, check: &str, what: &str, r: (u64, u64), s: &Sweep) {
    say!(
        "hostile sweep of {what} {:#x}..{:#x}: {} pages; aborted: {} reads, {} writes, {} fetches; did not abort: {}; \
         wrong fault address/status or data read: {}",
        r.0,
        r.0 + r.1,
        s.pages,
        s.aborted[0],
        s.aborted[1],
        s.aborted[2],
        s.not_aborted,
        s.wrong
    );
    let all = s.pages > 0 && s.aborted == [s.pages; 3] && s.not_aborted == 0 && s.wrong == 0;
    c.check(check, all, format_args!("{} pages, {} aborts", s.pages, s.aborted.iter().sum::<u32>()));
}

/// Read, write and fetch one word-aligned address at random in each 4 KiB page of `r`.
fn sweep(rng: &mut Rng, r: (u64, u64), what: &str) -> Sweep {
    let mut s = Sweep::default();
    let mut reported = 0;
    let mut bad = |kind: &str, addr: u32, n: u32, far: u32, fsr: u32| {
        if reported < 8 {
            reported += 1;
            say!("hostile sweep of {what}: {kind} at {addr:#x} FAILED: {n} abort(s), FAR {far:#x}, FSR {fsr:#x}");
        }
    };
    let mut page = r.0;
    while page < r.0 + r.1 {
        s.pages += 1;
        let at = |rng: &mut Rng| page as u32 + (rng.below(1024) << 2);
        // Read: the abort handler skips the load, so the register keeps its sentinel.
        let a = at(rng);
        let sentinel = rng.u32();
        let before = aborts();
        let got = probe_read(a, sentinel);
        let (n, far, fsr) = (aborts() - before, last_dfar(), last_dfsr());
        s.tally(0, n == 1, far == a && fsr == FSR_EXTERNAL && got == sentinel, || bad("read", a, n, far, fsr));
        // Write.
        let a = at(rng);
        let before = aborts();
        probe_write(a, rng.u32());
        let (n, far, fsr) = (aborts() - before, last_dfar(), last_dfsr());
        s.tally(1, n == 1, far == a && fsr == FSR_EXTERNAL | FSR_WNR, || bad("write", a, n, far, fsr));
        // Instruction fetch: probe_fetch branches there; the prefetch abort returns to it.
        let a = at(rng);
        let before = prefetch_aborts();
        // SAFETY: the address is in memory hypfw must refuse (its region or GICH): the fetch must
        // abort, and the prefetch-abort handler returns to probe_fetch's continuation.
        let ifar = unsafe { probe_fetch(a) };
        // SAFETY: a plain word the prefetch-abort handler of this CPU wrote.
        let ifsr = unsafe { read_volatile(&raw const LAST_IFSR) };
        let n = prefetch_aborts() - before;
        s.tally(2, n == 1, ifar == a && ifsr == FSR_EXTERNAL, || bad("fetch", a, n, ifar, ifsr));
        page += 4096;
    }
    s
}

/// The SoC's CPU release registers, where hypfw knows them (Versatile Express's SYS_FLAGS,
/// Allwinner's CPUCFG): a write there would start a CPU at an address of the payload's choice,
/// outside stage 2. Each word must read (hypfw carries the read out), and writing back what it
/// read must abort at that word, with nothing carried out (a write-back is harmless if it were).
fn release_block(c: &mut Checks, p: &Platform, r: Option<hypfw_core::platform::dtb::CpuRelease>) {
    let Some(r) = r else {
        say!("hostile: no CPU release registers hypfw knows on this SoC: not tried");
        return;
    };
    let (mut words, mut read, mut refused, mut reported) = (0, 0, 0, 0);
    for (base, size) in [(r.base, r.size), (r.base2, r.size2)] {
        let mut a = base;
        while a < base + size {
            words += 1;
            let before = aborts();
            let v = probe_read(a, 0);
            let read_ok = aborts() == before;
            probe_write(a, v);
            let (n, far, fsr) = (aborts() - before, last_dfar(), last_dfsr());
            let refused_ok = read_ok && n == 1 && far == a && fsr == FSR_EXTERNAL | FSR_WNR;
            read += read_ok as u32;
            refused += refused_ok as u32;
            if !(read_ok && refused_ok) && reported < 8 {
                reported += 1;
                say!(
                    "hostile: {} word {a:#x} FAILED: read aborted {}, {n} abort(s) in all, FAR {far:#x}, FSR {fsr:#x}",
                    r.kind.name(),
                    !read_ok
                );
            }
            a += 4;
        }
    }
    if r.kind == hypfw_core::platform::dtb::ReleaseKind::VexpressFlags {
        // Parked CPUs go wherever SYS_FLAGS points when they wake: hypfw points it into its own
        // region, over anything a bootloader left there.
        let flags = probe_read(r.base, 0) as u64;
        c.check(
            "hostile: SYS_FLAGS, where parked CPUs go when woken, points into hypfw's region",
            p.hypfw.0 <= flags && flags < p.hypfw.0 + p.hypfw.1,
            format_args!("{flags:#x}"),
        );
    }
    c.check(
        "hostile: the CPU release registers read, and refuse every write",
        words > 0 && read == words && refused == words,
        format_args!("{} at {:#x}: {words} words, {read} read, {refused} writes refused", r.kind.name(), r.base),
    );
}

fn last_dfar() -> u32 {
    // SAFETY: a plain word only the data-abort handler of this CPU (the one probing) writes.
    unsafe { read_volatile(&raw const LAST_DFAR) }
}

fn last_dfsr() -> u32 {
    // SAFETY: as last_dfar.
    unsafe { read_volatile(&raw const LAST_DFSR) }
}

/// One LDR from `addr` into a register holding `sentinel`: what it holds afterwards.
fn probe_read(addr: u32, sentinel: u32) -> u32 {
    let mut v = sentinel;
    // SAFETY: a load from memory hypfw must refuse: it aborts, and the data-abort handler (which
    // keeps every register) skips it, so nothing is read and no memory of the payload changes.
    unsafe { core::arch::asm!("ldr {v}, [{a}]", a = in(reg) addr, v = inout(reg) v, options(nostack)) };
    v
}

/// One STR of `value` to `addr`.
fn probe_write(addr: u32, value: u32) {
    // SAFETY: a store to memory hypfw must refuse: it aborts and the handler skips it; if it did
    // not abort it wrote hypfw's memory, which the sweep reports (it is what it looks for).
    unsafe { core::arch::asm!("str {v}, [{a}]", a = in(reg) addr, v = in(reg) value, options(nostack)) };
}

// ---------------------------------------------------------------------------------------------
// 2. CPU_ON with what must be refused.

/// The CPU_ON cases so far, and the CPU the refused ones aim at.
struct Cases {
    n: u32,
    failed: u32,
    /// One that is off (the last CPU), so that a wrongly accepted call would start it; at -smp 1
    /// only the running CPU exists.
    victim: usize,
    conduit: u32,
}

impl Cases {
    /// One CPU_ON that must answer `want`; then the victim must still be off.
    #[allow(clippy::too_many_arguments)]
    fn one(&mut self, t: &mut Tally, rng: &mut Rng, w: &World, what: &str, target: u32, at: u32, want: u32) {
        let r = call(t, rng, self.conduit, [ids::CPU_ON, target, at, 0x1234], [want, 0, 0, 0], what)[0];
        self.n += 1;
        if r != want {
            self.failed += 1;
            say!("hostile CPU_ON {what} (target {target:#x}, entry {at:#x}): {r:#x}, expected {want:#x} FAILED");
        }
        if !w.on[self.victim] {
            let vm = w.cpus[self.victim];
            let a = call(t, rng, self.conduit, [ids::AFFINITY_INFO, vm, 0, 0], [ids::AFF_OFF, 0, 0, 0], "victim")[0];
            if a != ids::AFF_OFF {
                self.failed += 1;
                say!("hostile CPU_ON {what}: cpu{} is no longer off (AFFINITY_INFO {a:#x}) FAILED", self.victim);
            }
        }
    }
}

fn cpu_on_cases(c: &mut Checks, rng: &mut Rng, t: &mut Tally, w: &mut World, p: &Platform) -> u32 {
    if !w.cpu_on {
        say!("hostile: the tree has no PSCI by SMC, so hypfw cannot start CPUs: no CPU_ON cases");
        return 0;
    }
    let entry = hostile_secondary as *const () as u32;
    let mut k = Cases { n: 0, failed: 0, victim: p.ncpus - 1, conduit: psci_conduit() };
    let vm = w.cpus[k.victim];
    let ip = ids::INVALID_PARAMETERS;
    // target_cpu bits [31:24] (MPIDR's M, U and MT flags among them) make it INVALID_PARAMETERS.
    for base in [vm, w.cpus[0]] {
        for high in [0x0100_0000, 0x4000_0000, 0x8000_0000, 0x8100_0000, 0xFF00_0000] {
            k.one(t, rng, w, "with target_cpu bits [31:24] set", base | high, entry, ip);
        }
    }
    // CPUs that do not exist.
    for target in [p.ncpus as u32, 7, 0xFF, 0x100, 0x101, 0x1_0000, 0xFF_FFFF] {
        if w.cpu(target).is_none() {
            k.one(t, rng, w, "of a CPU that does not exist", target, entry, ip);
        }
    }
    // Entry points: in hypfw's region, outside RAM, misaligned.
    let (hb, he) = (p.hypfw.0 as u32, (p.hypfw.0 + p.hypfw.1) as u32);
    let ia = ids::INVALID_ADDRESS;
    let first = w.ram.iter().map(|m| m.base).min().unwrap_or(0) as u32;
    // The end of RAM: of the payload's banks, or of hypfw's region at the top of them.
    let last = w.ram.iter().map(|m| m.end()).chain([p.hypfw.0 + p.hypfw.1]).max().unwrap_or(0) as u32;
    // SAFETY: a plain word cpu0 wrote once, before any secondary ran.
    let uart = unsafe { read_volatile(&raw const UART_BASE) } as u32;
    let bad_entries = [
        ("into hypfw's region (its first word)", hb),
        ("into hypfw's region (+0x1000)", hb + 0x1000),
        ("into hypfw's region (its last word)", he - 4),
        ("into hypfw's region (Thumb)", hb + 0x2001),
        ("with its first word straddling hypfw's region (Thumb)", hb - 1),
        ("misaligned, straddling hypfw's region (ARM)", hb - 2),
        ("outside RAM (0)", 0),
        ("outside RAM (the UART)", uart),
        ("outside RAM (just below it)", first.wrapping_sub(4)),
        ("outside RAM (just past its end)", last),
        ("outside RAM (0xFFFFFFFC)", 0xFFFF_FFFC),
        ("misaligned (ARM, 2 mod 4)", entry + 2),
    ];
    // An "outside RAM" address that is RAM on this board (address 0 where RAM starts at 0, as on
    // Calxeda Midway) is not a bad entry: skipped (a valid one would start the victim CPU).
    for (what, at) in bad_entries.into_iter().filter(|&(what, at)| !(what.starts_with("outside RAM") && w.entry_ok(at)))
    {
        k.one(t, rng, w, what, vm, at, ia);
    }
    // The valid edges, the last word below hypfw's region as an ARM and a Thumb entry, and the
    // running CPU: accepted, so ALREADY_ON (aimed only at a CPU that is on).
    let cpu0 = w.cpus[0];
    k.one(t, rng, w, "of the running CPU, ARM entry just below hypfw's region", cpu0, hb - 4, ids::ALREADY_ON);
    k.one(t, rng, w, "of the running CPU, Thumb entry just below hypfw's region", cpu0, hb - 3, ids::ALREADY_ON);
    k.one(t, rng, w, "of the running CPU", cpu0, entry, ids::ALREADY_ON);

    // Double CPU_ON: every secondary but the victim (or the only one, at -smp 2, after the refusals
    // above), started once and asked again at once, then again once it is up.
    let mut doubles = [0u32; 3]; // the second call: ON_PENDING, ALREADY_ON, anything else
    let starts = if p.ncpus > 2 { 1..p.ncpus - 1 } else { 1..p.ncpus };
    for i in starts.clone() {
        let m = w.cpus[i];
        let on = [ids::CPU_ON, m, entry, i as u32];
        let r1 = call(t, rng, k.conduit, on, [ids::SUCCESS, 0, 0, 0], "start")[0];
        // The second call finds the CPU on its way (ON_PENDING), or already arrived.
        let again = [ids::ON_PENDING, ids::ALREADY_ON];
        let r2 = call_accepting(t, rng, k.conduit, on, &again, [0; 3], "again at once")[0];
        doubles[match r2 {
            ids::ON_PENDING => 0,
            ids::ALREADY_ON => 1,
            _ => 2,
        }] += 1;
        let up = r1 == ids::SUCCESS && wait_until(|| online(i) != 0);
        w.on[i] = up;
        let r3 = call(t, rng, k.conduit, on, [ids::ALREADY_ON, 0, 0, 0], "once up")[0];
        k.n += 3;
        if !(up && again.contains(&r2) && r3 == ids::ALREADY_ON) {
            k.failed += 1;
        }
        say!("hostile double CPU_ON of cpu{i}: {r1:#x}, at once again {r2:#x}, once up {r3:#x} (up: {up})");
        // A bad entry aimed at a CPU that is on: the arguments are checked first.
        k.one(t, rng, w, "into hypfw's region, of a CPU that is on", m, hb, ia);
    }
    c.check(
        "hostile: CPU_ON refusals (bits [31:24], no such CPU, bad entry points) and double CPU_ON",
        k.failed == 0,
        format_args!(
            "{} cases, {} wrong; double CPU_ON of {} CPU(s): second call ON_PENDING {}, ALREADY_ON {}, other {}; cpu{} {}",
            k.n,
            k.failed,
            starts.len(),
            doubles[0],
            doubles[1],
            doubles[2],
            k.victim,
            if w.on[k.victim] { "on" } else { "never started" }
        ),
    );
    k.n
}

#[unsafe(no_mangle)]
extern "C" fn hostile_secondary_main(cpu: usize) -> ! {
    say!(
        "cpu{cpu} up in {} mode (hostile mode: sleeps in WFI)",
        if cpsr() & 0x1F == 0x13 { "SVC" } else { "an unexpected" }
    );
    // SAFETY: this CPU's own word of ONLINE (cpu < MAX_CPUS, checked by hostile_secondary).
    unsafe { write_volatile(&raw mut ONLINE[cpu], 1) };
    halt()
}

// ---------------------------------------------------------------------------------------------
// 3. Set/way cache maintenance.

fn set_way(c: &mut Checks, rng: &mut Rng, t: &mut Tally) -> u32 {
    let clidr: u32;
    // SAFETY: reads CLIDR only.
    unsafe { core::arch::asm!("mrc p15, 1, {}, c0, c0, 1", out(reg) clidr) };
    let mut ops = [0u32; 3];
    let mut levels = 0;
    for level in 0..7 {
        let ctype = (clidr >> (3 * level)) & 7;
        if ctype < 2 {
            continue; // no cache, or instruction only
        }
        levels += 1;
        let ccsidr: u32;
        // SAFETY: CSSELR selects the level's data/unified cache, CCSIDR describes it; nothing else.
        unsafe {
            core::arch::asm!("mcr p15, 2, {}, c0, c0, 0", "isb", "mrc p15, 1, {}, c0, c0, 0", in(reg) level << 1, out(reg) ccsidr)
        };
        let line_shift = (ccsidr & 7) + 4;
        let ways = ((ccsidr >> 3) & 0x3FF) + 1;
        let sets = ((ccsidr >> 13) & 0x7FFF) + 1;
        let way_shift = if ways > 1 { (ways - 1).leading_zeros() } else { 0 };
        for (k, n) in ops.iter_mut().enumerate() {
            for way in 0..ways {
                for set in 0..sets {
                    let sw = (way.checked_shl(way_shift).unwrap_or(0)) | (set << line_shift) | (level << 1);
                    // SAFETY: set/way maintenance of the PL1 caches: with HCR.SWIO set by hypfw,
                    // DCISW acts as DCCISW, so no line is lost, hypfw's or the payload's; what is
                    // checked is that hypfw survives the operations, whether it traps them or not.
                    unsafe {
                        match k {
                            0 => core::arch::asm!("mcr p15, 0, {}, c7, c6, 2", in(reg) sw),
                            1 => core::arch::asm!("mcr p15, 0, {}, c7, c10, 2", in(reg) sw),
                            _ => core::arch::asm!("mcr p15, 0, {}, c7, c14, 2", in(reg) sw),
                        }
                    }
                    *n += 1;
                }
            }
        }
    }
    // SAFETY: a barrier only.
    unsafe { core::arch::asm!("dsb", "isb") };
    let v = call(t, rng, C_HVC0, [hvc::HYPFW_VERSION, 0, 0, 0], [1, 0, 0, 0], "after set/way")[0];
    let pv =
        call(t, rng, psci_conduit(), [ids::PSCI_VERSION, 0, 0, 0], [ids::VERSION_1_0, 0, 0, 0], "after set/way")[0];
    c.check(
        "hostile: set/way cache maintenance from SVC, hypfw still answers",
        levels > 0 && v == 1 && pv == ids::VERSION_1_0,
        format_args!(
            "CLIDR {clidr:#x}, {levels} data/unified level(s): {} DCISW, {} DCCSW, {} DCCISW; then HYPFW_VERSION {v:#x}, \
             PSCI_VERSION {pv:#x}",
            ops[0], ops[1], ops[2]
        ),
    );
    ops.iter().sum()
}

// ---------------------------------------------------------------------------------------------
// 4. Random calls.

fn random_calls(c: &mut Checks, rng: &mut Rng, t: &mut Tally, w: &World, p: &Platform, o: &Options) {
    let before = (t.calls, t.failed_calls, t.by_conduit[C_SMC as usize]);
    let t0 = cntpct();
    let smc = smc_exists();
    if !smc {
        say!(
            "hostile calls: no Security Extensions (ID_PFR1) and PSCI by HVC: SMC is undefined here, SMCs made by HVC"
        );
    }
    for _ in 0..o.calls {
        let (class, mut conduit, r) = loop {
            let d = draw(rng, w, p.hypfw);
            if !w.excluded(d.2) {
                break d;
            }
            t.excluded += 1;
        };
        if conduit == C_SMC && !smc {
            conduit = C_HVC0;
        }
        t.by_class[class] += 1;
        let want = w.expect(conduit, r);
        call(t, rng, conduit, r, want, CLASSES[class]);
    }
    let ticks = cntpct().wrapping_sub(t0);
    let made = t.calls - before.0;
    let failed = t.failed_calls - before.1;
    say!(
        "hostile calls: {made} made (seed {:#x}): {}; by {}; {} drawn calls excluded (would change the machine) and \
         drawn again",
        o.seed,
        Counts(&t.by_class, &CLASSES),
        Counts(&t.by_conduit, &CONDUITS),
        t.excluded
    );
    say!("hostile answers (all calls of the run): {}", Counts(&t.answers, &ANSWERS));
    say!(
        "hostile registers (all calls of the run): r1-r3 defined results {}, caller's values {}; failures: {}",
        t.r1_r3_defined,
        t.r1_r3_callers,
        Counts(&t.failures, &FAILURES)
    );
    // Where an SMC exists, about 45 % of the draws are SMCs: at least a third must have been made
    // as SMCs (a wrong conduit choice once made them 33 in 50,000).
    let smcs = t.by_conduit[C_SMC as usize] - before.2;
    let conduits_ok = if smc { smcs >= made / 3 } else { smcs == 0 };
    c.check(
        "hostile: random HVC and SMC calls answered as the rules say, registers kept",
        failed == 0 && made == o.calls && conduits_ok,
        format_args!("{made} calls, {failed} failed, {smcs} of them by SMC #0, {ticks} CNTPCT ticks"),
    );
}

/// "n name, n name, ...".
struct Counts<'a>(&'a [u32], &'a [&'a str]);

impl core::fmt::Display for Counts<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, (n, name)) in self.0.iter().zip(self.1).enumerate() {
            write!(f, "{}{n} {name}", if i > 0 { ", " } else { "" })?;
        }
        Ok(())
    }
}

fn cntpct() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reads the physical counter (CNTHCTL.PL1PCTEN is set by hypfw).
    unsafe { core::arch::asm!("isb", "mrrc p15, 0, {}, {}, c14", out(reg) lo, out(reg) hi) };
    (hi as u64) << 32 | lo as u64
}
