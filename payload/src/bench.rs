//! What an exit costs the payload, measured from its side: loops of N calls against the same loop
//! without the call, read off the physical counter. Under `-icount shift=0` (what
//! `cargo xtask bench` runs) one instruction is one virtual nanosecond, so the differences are
//! instruction counts: the null HVC (hypfw's fast path), a trapped SMC `PSCI_VERSION` (the full
//! exit, PSCI decoding included), and a load from hypfw's region (stage-2 abort, hypfw injects an
//! external abort, this payload's abort handler skips the load and returns).

use core::arch::asm;
use core::fmt::Write;
use hypfw_core::services::{hvc, psci as ids};

const N: u32 = 256;

fn cntpct() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reads the physical counter, which hypfw lets PL1 read (CNTHCTL.PL1PCTEN); the ISB
    // keeps the read after everything before it.
    unsafe { asm!("isb", "mrrc p15, 0, {}, {}, c14", out(reg) lo, out(reg) hi, options(nomem, nostack)) };
    (hi as u64) << 32 | lo as u64
}

/// What one loop runs per iteration.
#[derive(Clone, Copy)]
enum Op {
    Nothing,
    Hvc,
    Smc,
    /// A load from this address.
    Load(u32),
}

/// Counter ticks for N iterations of `op`. The four variants differ only in the one instruction,
/// so that the loop overhead cancels in the difference.
fn ticks(op: Op) -> u64 {
    let t0 = cntpct();
    for _ in 0..N {
        // SAFETY: (each arm) the HVC and the SMC are calls hypfw answers without side effects
        // (HYPFW_NULL, PSCI_VERSION; r0-r3 are declared clobbered); the load is either of this
        // payload's own memory or of hypfw's region, where it aborts and the abort handler
        // (entry.S) skips it, leaving the destination register unchanged.
        unsafe {
            match op {
                Op::Nothing => asm!("nop", options(nomem, nostack)),
                Op::Hvc => {
                    asm!(".arch_extension virt", "hvc #0", inout("r0") hvc::HYPFW_NULL => _, out("r1") _, out("r2") _, out("r3") _, options(nostack))
                }
                Op::Smc => {
                    asm!(".arch_extension sec", "smc #0", inout("r0") ids::PSCI_VERSION => _, out("r1") _, out("r2") _, out("r3") _, options(nostack))
                }
                Op::Load(a) => asm!("ldr {t}, [{a}]", a = in(reg) a, t = out(reg) _, options(nostack, readonly)),
            }
        }
    }
    cntpct() - t0
}

/// One line for `cargo xtask bench` to read: counter ticks of N-iteration loops per operation.
/// `hypfw_page` is a page of hypfw's region (the load aborts), `own` a word of this payload's.
pub fn exits(hypfw_page: u32, own: u32, psci_by_smc: bool) {
    let base = ticks(Op::Nothing);
    let load = ticks(Op::Load(own));
    let hvc = ticks(Op::Hvc);
    // Where /psci says "hvc" there is no SMC to trap (and an SMC may be UNDEFINED): no figure.
    let smc = if psci_by_smc { ticks(Op::Smc) } else { 0 };
    let abort = ticks(Op::Load(hypfw_page));
    say!(
        "bench: {N} iterations: empty loop {base} ticks, load {load}, hvc-null {hvc}, smc-psci-version {smc}, stage2-abort {abort}"
    );
}
