//! hypfw's own options, from `hypfw.*` words of the command line (`/chosen/bootargs`): what the
//! bare image's self-test does, and the one policy a user may relax (`hypfw.handover=allow`).
//! Words without the `hypfw.` prefix belong to the payload. A `hypfw.*` word hypfw does not know,
//! or whose value it does not take (a typo such as `hypfw.verbos` or `hypfw.handover=alow`), is
//! ignored, and the first one is kept so that the boot log can say so.

/// hypfw's options, from `hypfw.*` words of /chosen/bootargs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub mode: SelfTest,
    /// CPU offline/online cycles, spread over the secondaries (`hypfw.hotplug=N`).
    pub hotplug_cycles: u32,
    /// Teardown/re-init cycles of the boot CPU (`hypfw.reinit=N`).
    pub reinit_cycles: u32,
    /// HYPFW_TEARDOWN/HYPFW_REINIT cycles driven by an SVC guest (`hypfw.hvc-teardown=N`).
    pub hvc_teardown_cycles: u32,
    /// A payload may take HYP over with HYPFW_TEARDOWN (`hypfw.handover=allow`); off by default.
    pub handover: bool,
    /// The full boot log (`hypfw.verbose`): every step, and every runtime mapping too. Off by
    /// default on boards, where the short summary is printed, as each line costs about a
    /// millisecond at 115200 baud.
    pub verbose: bool,
    /// The short summary even in a test build, whose default is the step-by-step log
    /// (`hypfw.quiet`).
    pub quiet: bool,
    /// How many `hypfw.*` words were not options hypfw takes, and the first of them (its first
    /// [`IGNORED_KEPT`] bytes).
    pub ignored: u8,
    pub first_ignored: [u8; IGNORED_KEPT],
    pub first_ignored_len: u8,
}

/// How much of the first ignored word is kept for the log.
pub const IGNORED_KEPT: usize = 32;

/// The words hypfw takes, for the log line about one it does not.
pub const KNOWN: &str = "verbose, quiet, handover=allow, hotplug=N, reinit=N, hvc-teardown=N, selftest=MODE";

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: SelfTest::Normal,
            hotplug_cycles: 200,
            reinit_cycles: 100,
            hvc_teardown_cycles: 20,
            handover: false,
            verbose: false,
            quiet: false,
            ignored: 0,
            first_ignored: [0; IGNORED_KEPT],
            first_ignored_len: 0,
        }
    }
}

/// A decimal number of at most 9 digits (the counts hypfw takes), written by hand rather than
/// with `str::parse`, whose generic integer parser (signs, radixes, overflow) costs the boot-only
/// text several hundred bytes.
fn decimal(v: &[u8]) -> Option<u32> {
    if v.is_empty() || v.len() > 9 {
        return None;
    }
    v.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + (c - b'0') as u32))
}

impl Options {
    pub fn from_bootargs(args: &str) -> Self {
        // The option names, searched as a table: a `match` on byte strings compiles to a chain
        // of inline compares several times the size, in the boot-only text.
        const NAMES: [&[u8]; 7] =
            [b"hotplug", b"reinit", b"hvc-teardown", b"handover", b"verbose", b"quiet", b"selftest"];
        let mut o = Self::default();
        for w in args.as_bytes().split(|c| c.is_ascii_whitespace()) {
            let Some(opt) = w.strip_prefix(b"hypfw.") else { continue };
            let eq = opt.iter().position(|&c| c == b'=').unwrap_or(opt.len());
            let (name, value) = (&opt[..eq], opt.get(eq + 1..));
            let count = value.and_then(decimal);
            let taken = match (NAMES.iter().position(|n| *n == name), value) {
                (Some(0), _) => count.map(|n| o.hotplug_cycles = n).is_some(),
                (Some(1), _) => count.map(|n| o.reinit_cycles = n).is_some(),
                (Some(2), _) => count.map(|n| o.hvc_teardown_cycles = n).is_some(),
                (Some(3), Some(b"allow")) => {
                    o.handover = true;
                    true
                }
                (Some(4), None) => {
                    o.verbose = true;
                    true
                }
                (Some(5), None) => {
                    o.quiet = true;
                    true
                }
                (Some(6), Some(v)) => SelfTest::named(v).map(|m| o.mode = m).is_some(),
                _ => false,
            };
            if !taken {
                if o.ignored == 0 {
                    // ASCII only (anything else as `?`), so that the kept bytes are a `str`.
                    let n = w.len().min(IGNORED_KEPT);
                    for (d, &c) in o.first_ignored.iter_mut().zip(&w[..n]) {
                        *d = if c.is_ascii() { c } else { b'?' };
                    }
                    o.first_ignored_len = n as u8;
                }
                o.ignored = o.ignored.saturating_add(1);
            }
        }
        o
    }

    /// The first ignored `hypfw.*` word (see [`Options::ignored`]), as kept: its first
    /// [`IGNORED_KEPT`] bytes, non-ASCII ones as `?`.
    pub fn first_ignored(&self) -> &str {
        core::str::from_utf8(&self.first_ignored[..self.first_ignored_len as usize]).unwrap_or_default()
    }
}

/// What the built-in self-test does after its HVC checks (`hypfw.selftest=` in the bootargs).
/// The fault modes exist so the tests can prove that a fault in HYP is reported, not hung on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SelfTest {
    #[default]
    Normal,
    /// Recurse in HYP until the stack runs into its guard page.
    StackOverflow,
    /// Execute an undefined instruction in HYP.
    Undefined,
    /// Push just below the stack's lowest mapped word, so that the fault leaves SP right above
    /// the guard page (where the exception vector's own push would fault again).
    PushOverflow,
    /// Start a secondary CPU at the init page with an out-of-range CPU index: the init page's
    /// own fault path (assembly, MMU off) must say so on the console and stop.
    InitFault,
}

impl SelfTest {
    /// The mode a `hypfw.selftest=` value names (a table searched, which is a fraction of the
    /// code a `match` on byte strings compiles to).
    fn named(v: &[u8]) -> Option<Self> {
        const NAMES: [(&[u8], SelfTest); 4] = [
            (b"stack-overflow", SelfTest::StackOverflow),
            (b"undefined", SelfTest::Undefined),
            (b"push-overflow", SelfTest::PushOverflow),
            (b"init-fault", SelfTest::InitFault),
        ];
        NAMES.iter().find(|(n, _)| *n == v).map(|&(_, m)| m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selftest_mode_from_bootargs() {
        assert_eq!(
            Options::from_bootargs("console=ttyAMA0 hypfw.selftest=stack-overflow").mode,
            SelfTest::StackOverflow
        );
        assert_eq!(Options::from_bootargs("hypfw.selftest=undefined").mode, SelfTest::Undefined);
        assert_eq!(Options::from_bootargs("hypfw.selftest=push-overflow").mode, SelfTest::PushOverflow);
        assert_eq!(Options::from_bootargs("hypfw.selftest=init-fault").mode, SelfTest::InitFault);
        assert_eq!(Options::from_bootargs("hypfw.selftest=bogus quiet").mode, SelfTest::Normal);
        let o = Options::from_bootargs("hypfw.hotplug=7 hypfw.reinit=x hypfw.reinit=3");
        assert_eq!((o.mode, o.hotplug_cycles, o.reinit_cycles), (SelfTest::Normal, 7, 3));
        assert!(!o.handover, "a payload may take HYP over only when the user says so");
        assert!(Options::from_bootargs("quiet hypfw.handover=allow").handover);
        assert!(!Options::from_bootargs("hypfw.handover=allowed hypfw.handover").handover);
        assert!(!o.verbose, "the short log unless asked");
        assert!(Options::from_bootargs("console=ttyS0 hypfw.verbose").verbose);
        assert!(!Options::from_bootargs("hypfw.verbose=0 hypfw.verbosely").verbose);
        assert!(!o.quiet);
        assert!(Options::from_bootargs("hypfw.quiet quiet").quiet);
        assert!(!Options::from_bootargs("quiet hypfw.quieter").quiet);
    }

    /// A `hypfw.*` word that is not an option, or has a value hypfw does not take, is counted and
    /// the first one kept for the log; the payload's own words are not hypfw's to judge.
    #[test]
    fn words_hypfw_does_not_take_are_reported() {
        let o = Options::from_bootargs("console=ttyS0 hypfw.verbose quiet rootwait");
        assert_eq!(o.ignored, 0);
        let o = Options::from_bootargs("hypfw.verbos hypfw.handover=alow hypfw.hotplug=x hypfw.reinit=3");
        assert_eq!((o.ignored, o.first_ignored(), o.reinit_cycles), (3, "hypfw.verbos", 3));
        assert!(!o.verbose && !o.handover);
        assert_eq!(Options::from_bootargs("hypfw.selftest=bogus").ignored, 1);
        assert_eq!(Options::from_bootargs("hypfw.hotplug=99999999999").ignored, 1, "more than 9 digits");
        assert_eq!(Options::from_bootargs("hypfw.hotplug=").ignored, 1);
        assert_eq!(Options::from_bootargs("hypfw.verbose=1").ignored, 1);
        let long = Options::from_bootargs("hypfw.a-very-long-option-name-that-goes-on=1");
        assert_eq!(long.first_ignored(), "hypfw.a-very-long-option-name-th");
        // Non-ASCII bytes (here a two-byte character cut in half) are kept as `?`.
        let utf = Options::from_bootargs("hypfw.abcdefghijklmnopqrstuvwxy\u{e9}");
        assert_eq!(utf.first_ignored(), "hypfw.abcdefghijklmnopqrstuvwxy?");
        assert_eq!(Options::from_bootargs("hypfw.\u{e9}t\u{e9}").first_ignored(), "hypfw.??t??");
        assert_eq!(Options::from_bootargs("hypfw.hotplug=4294967").hotplug_cycles, 4_294_967);
    }
}
