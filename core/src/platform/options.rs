//! hypfw's own options, from `hypfw.*` words of the command line (`/chosen/bootargs`): what the
//! bare image's self-test does, and the one policy a user may relax (`hypfw.handover=allow`).
//! Unknown words and malformed values are ignored: the command line is shared with the payload.

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
}

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
        }
    }
}

impl Options {
    pub fn from_bootargs(args: &str) -> Self {
        let mut o = Self { mode: SelfTest::from_bootargs(args), ..Self::default() };
        for w in args.split_whitespace() {
            if let Some(n) = w.strip_prefix("hypfw.hotplug=").and_then(|v| v.parse().ok()) {
                o.hotplug_cycles = n;
            }
            if let Some(n) = w.strip_prefix("hypfw.reinit=").and_then(|v| v.parse().ok()) {
                o.reinit_cycles = n;
            }
            if let Some(n) = w.strip_prefix("hypfw.hvc-teardown=").and_then(|v| v.parse().ok()) {
                o.hvc_teardown_cycles = n;
            }
            if w == "hypfw.handover=allow" {
                o.handover = true;
            }
            if w == "hypfw.verbose" {
                o.verbose = true;
            }
            if w == "hypfw.quiet" {
                o.quiet = true;
            }
        }
        o
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
    /// Parse the `hypfw.selftest=` word of a command line; unknown values are ignored.
    pub fn from_bootargs(args: &str) -> Self {
        match args.split_whitespace().find_map(|w| w.strip_prefix("hypfw.selftest=")) {
            Some("stack-overflow") => SelfTest::StackOverflow,
            Some("undefined") => SelfTest::Undefined,
            Some("push-overflow") => SelfTest::PushOverflow,
            Some("init-fault") => SelfTest::InitFault,
            _ => SelfTest::Normal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selftest_mode_from_bootargs() {
        assert_eq!(SelfTest::from_bootargs("console=ttyAMA0 hypfw.selftest=stack-overflow"), SelfTest::StackOverflow);
        assert_eq!(SelfTest::from_bootargs("hypfw.selftest=undefined"), SelfTest::Undefined);
        assert_eq!(SelfTest::from_bootargs("hypfw.selftest=push-overflow"), SelfTest::PushOverflow);
        assert_eq!(SelfTest::from_bootargs("hypfw.selftest=init-fault"), SelfTest::InitFault);
        assert_eq!(SelfTest::from_bootargs("hypfw.selftest=bogus quiet"), SelfTest::Normal);
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
}
