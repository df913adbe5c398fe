//! The PSCI interface hypfw offers its payload (trapped SMCs, ARM DEN 0022): decoding and the
//! argument checks, kept apart from the CPU control that carries a request out. Every argument
//! comes from the payload and is checked before anything acts on it.

use crate::mm::layout::MemRange;
use crate::platform::smp::CpuMap;

// Function IDs and status codes as the `smccc` crate defines them (ARM DEN 0022), under the
// names this module has always used.
use smccc::psci as ids;
use smccc::psci::error as st;

pub const PSCI_VERSION: u32 = ids::PSCI_VERSION;
pub const CPU_SUSPEND: u32 = ids::PSCI_CPU_SUSPEND_32;
pub const CPU_OFF: u32 = ids::PSCI_CPU_OFF;
pub const CPU_ON: u32 = ids::PSCI_CPU_ON_32;
pub const AFFINITY_INFO: u32 = ids::PSCI_AFFINITY_INFO_32;
pub const MIGRATE_INFO_TYPE: u32 = ids::PSCI_MIGRATE_INFO_TYPE;
pub const MIGRATE_INFO_UP_CPU: u32 = ids::PSCI_MIGRATE_INFO_UP_CPU_32;
pub const SYSTEM_OFF: u32 = ids::PSCI_SYSTEM_OFF;
pub const SYSTEM_RESET: u32 = ids::PSCI_SYSTEM_RESET;
pub const PSCI_FEATURES: u32 = ids::PSCI_FEATURES;

pub const SUCCESS: u32 = 0;
pub const NOT_SUPPORTED: u32 = st::NOT_SUPPORTED as u32;
pub const INVALID_PARAMETERS: u32 = st::INVALID_PARAMETERS as u32;
pub const DENIED: u32 = st::DENIED as u32;
pub const ALREADY_ON: u32 = st::ALREADY_ON as u32;
pub const ON_PENDING: u32 = st::ON_PENDING as u32;
pub const INTERNAL_FAILURE: u32 = st::INTERNAL_FAILURE as u32;
pub const INVALID_ADDRESS: u32 = st::INVALID_ADDRESS as u32;

/// PSCI 1.0.
pub const VERSION_1_0: u32 = 0x0001_0000;
/// MIGRATE_INFO_TYPE: no Trusted OS that would need migrating.
pub const MIGRATE_NONE: u32 = 2;

/// AFFINITY_INFO answers.
pub const AFF_ON: u32 = 0;
pub const AFF_OFF: u32 = 1;
pub const AFF_ON_PENDING: u32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Version,
    Features(u32),
    CpuOn {
        cpu: usize,
        entry: u32,
        context: u32,
    },
    CpuOff,
    /// CPU_SUSPEND, served as a standby (wait for an interrupt, then return SUCCESS) whatever
    /// state `power_state` asks for: PSCI lets an implementation wake early from a power-down
    /// request, and a caller must cope with the return.
    CpuSuspend {
        power_state: u32,
    },
    AffinityInfo {
        cpu: usize,
    },
    MigrateInfoType,
    /// Which CPU a uniprocessor Trusted OS lives on (meaningful only where MIGRATE_INFO_TYPE
    /// says there is one, which only the platform's own PSCI can).
    MigrateInfoUpCpu,
    SystemOff,
    SystemReset,
    SmcccVersion,
    SmcccArchFeatures(u32),
    /// Answer immediately with this value (bad arguments, unsupported calls).
    Error(u32),
}

const SUPPORTED: [u32; 10] = [
    PSCI_VERSION,
    CPU_SUSPEND,
    CPU_OFF,
    CPU_ON,
    AFFINITY_INFO,
    MIGRATE_INFO_TYPE,
    SYSTEM_OFF,
    SYSTEM_RESET,
    PSCI_FEATURES,
    crate::services::hvc::SMCCC_VERSION,
];

/// PSCI_FEATURES answer for a function ID.
pub fn features(fid: u32) -> u32 {
    if SUPPORTED.contains(&fid) { 0 } else { NOT_SUPPORTED }
}

/// May a CPU start at this CPU_ON entry point? Its first instruction word, at `entry` (ARM: word
/// aligned) or `entry & !1` (Thumb: bit 0 set), must lie in one RAM bank and overlap no hole: an
/// entry whose word only starts below hypfw's region is refused too.
fn entry_valid(entry: u32, ram: &[MemRange], holes: &[MemRange]) -> bool {
    let word = MemRange { base: (entry & !1) as u64, size: 4 };
    let aligned = entry & 1 != 0 || entry.is_multiple_of(4);
    aligned
        && ram.iter().any(|m| m.base <= word.base && word.end() <= m.end())
        && !holes.iter().any(|h| h.overlaps(&word))
}

/// Decode the payload's r0-r3. `ram` is the payload's RAM (an entry point must be in it).
pub fn decode(r: [u32; 4], cpus: &CpuMap, ram: &[MemRange], holes: &[MemRange]) -> Request {
    let cpu_of = |mpidr: u32| {
        // A 32-bit caller's target_cpu holds Aff2.Aff1.Aff0 in bits [23:0]; bits [31:24] must be
        // zero (PSCI, DEN 0022, 5.1.4): anything else is INVALID_PARAMETERS, MPIDR's own M/U/MT
        // flags included.
        if mpidr & 0xFF00_0000 != 0 { None } else { cpus.index_of(mpidr) }
    };
    match r[0] {
        PSCI_VERSION => Request::Version,
        PSCI_FEATURES => Request::Features(r[1]),
        CPU_OFF => Request::CpuOff,
        CPU_SUSPEND => Request::CpuSuspend { power_state: r[1] },
        MIGRATE_INFO_TYPE => Request::MigrateInfoType,
        MIGRATE_INFO_UP_CPU => Request::MigrateInfoUpCpu,
        SYSTEM_OFF => Request::SystemOff,
        SYSTEM_RESET => Request::SystemReset,
        crate::services::hvc::SMCCC_VERSION => Request::SmcccVersion,
        crate::services::hvc::SMCCC_ARCH_FEATURES => Request::SmcccArchFeatures(r[1]),
        CPU_ON => {
            let Some(cpu) = cpu_of(r[1]) else { return Request::Error(INVALID_PARAMETERS) };
            if !entry_valid(r[2], ram, holes) {
                return Request::Error(INVALID_ADDRESS);
            }
            Request::CpuOn { cpu, entry: r[2], context: r[3] }
        }
        AFFINITY_INFO => {
            if r[2] != 0 {
                // Only level 0 (individual CPUs) is answered.
                return Request::Error(INVALID_PARAMETERS);
            }
            match cpu_of(r[1]) {
                Some(cpu) => Request::AffinityInfo { cpu },
                None => Request::Error(INVALID_PARAMETERS),
            }
        }
        _ => Request::Error(NOT_SUPPORTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::dtb::Cpu;
    use proptest::prelude::*;

    fn map() -> CpuMap {
        CpuMap::new(&[0, 1, 2, 3].map(|m| Cpu { mpidr: m, psci: true }), 0)
    }
    const RAM: [MemRange; 1] = [MemRange { base: 0x4000_0000, size: 1 << 30 }];
    const HOLES: [MemRange; 1] = [MemRange { base: 0x7FE0_0000, size: 2 << 20 }];

    fn d(r: [u32; 4]) -> Request {
        decode(r, &map(), &RAM, &HOLES)
    }

    #[test]
    fn cpu_on_checks() {
        assert_eq!(d([CPU_ON, 2, 0x4200_0000, 7]), Request::CpuOn { cpu: 2, entry: 0x4200_0000, context: 7 });
        assert_eq!(d([CPU_ON, 0x8000_0002, 0x4200_0000, 7]), Request::Error(INVALID_PARAMETERS), "bit 31 set");
        assert_eq!(d([CPU_ON, 0x0100_0002, 0x4200_0000, 7]), Request::Error(INVALID_PARAMETERS), "bit 24 set");
        assert_eq!(d([AFFINITY_INFO, 0x4000_0001, 0, 0]), Request::Error(INVALID_PARAMETERS), "bit 30 set");
        assert_eq!(d([CPU_ON, 9, 0x4200_0000, 0]), Request::Error(INVALID_PARAMETERS));
        assert_eq!(d([CPU_ON, 0x100, 0x4200_0000, 0]), Request::Error(INVALID_PARAMETERS));
        assert_eq!(d([CPU_ON, 1, 0x1000, 0]), Request::Error(INVALID_ADDRESS), "outside RAM");
        assert_eq!(d([CPU_ON, 1, 0x7FE0_0000, 0]), Request::Error(INVALID_ADDRESS), "hypfw's region");
        assert_eq!(
            d([CPU_ON, 1, 0x4200_0001, 0]),
            Request::CpuOn { cpu: 1, entry: 0x4200_0001, context: 0 },
            "Thumb entry"
        );
        assert_eq!(d([CPU_ON, 1, 0x4200_0002, 0]), Request::Error(INVALID_ADDRESS), "misaligned ARM entry");
    }

    /// The entry's first instruction word, not only its first byte, must be the payload's: at the
    /// edges of hypfw's region and of RAM (found by the hostile payload: a Thumb entry at
    /// 0x7fdfffff was accepted, and started a CPU whose first word overlapped hypfw's region).
    #[test]
    fn cpu_on_entry_edges() {
        let on = |e: u32| d([CPU_ON, 1, e, 0]) != Request::Error(INVALID_ADDRESS);
        assert!(on(0x7FDF_FFFC), "ARM, the last word below hypfw's region");
        assert!(on(0x7FDF_FFFD), "Thumb, the last word below hypfw's region");
        assert!(!on(0x7FDF_FFFF), "Thumb, the word overlaps hypfw's region");
        assert!(!on(0x7FDF_FFFE), "ARM, misaligned");
        assert!(!on(0x7FE0_0001), "Thumb, inside hypfw's region");
        assert!(on(0x4000_0000) && on(0x4000_0001), "the first word of RAM");
        assert!(!on(0x3FFF_FFFD), "Thumb, below RAM");
        let ram = [MemRange { base: 0x4000_0000, size: 0x1000 }];
        let on = |e: u32| decode([CPU_ON, 1, e, 0], &map(), &ram, &[]) != Request::Error(INVALID_ADDRESS);
        assert!(on(0x4000_0FFC) && on(0x4000_0FFD), "the last word of RAM, ARM and Thumb");
        assert!(!on(0x4000_0FFF) && !on(0x4000_1000), "past the end of RAM");
    }

    #[test]
    fn other_calls() {
        assert_eq!(d([AFFINITY_INFO, 3, 0, 0]), Request::AffinityInfo { cpu: 3 });
        assert_eq!(d([AFFINITY_INFO, 3, 1, 0]), Request::Error(INVALID_PARAMETERS));
        assert_eq!(d([0xC400_0003, 1, 0, 0]), Request::Error(NOT_SUPPORTED), "SMC64 CPU_ON");
        assert_eq!(d([CPU_SUSPEND, 0x1_0000, 0x4200_0000, 7]), Request::CpuSuspend { power_state: 0x1_0000 });
        assert_eq!(features(CPU_ON), 0);
        // PSCI 1.0 makes CPU_SUSPEND mandatory; 0 = original power_state format, no OS-initiated mode.
        assert_eq!(features(CPU_SUSPEND), 0);
        assert_eq!(features(0x8400_000E), NOT_SUPPORTED, "SYSTEM_SUSPEND");
    }

    proptest! {
        /// Any input decodes; a CPU_ON that gets through names a real CPU and a RAM address
        /// outside hypfw's region.
        #[test]
        fn decoding_is_total_and_safe(r in any::<[u32; 4]>(), fid in 0usize..3) {
            let mut r = r;
            r[0] = [CPU_ON, AFFINITY_INFO, r[0]][fid];
            if let Request::CpuOn { cpu, entry, .. } = d(r) {
                prop_assert!(cpu < 4);
                // The whole first instruction word is in RAM and outside hypfw's region.
                let (first, last) = ((entry & !1) as u64, (entry & !1) as u64 + 3);
                prop_assert!(RAM[0].base <= first && last < RAM[0].end());
                prop_assert!(last < HOLES[0].base || first >= HOLES[0].end());
            }
        }
    }
}

/// The payload's view of one CPU's power state, shared by the CPU that asks for CPU_ON and the CPU
/// that arrives: exactly one CPU_ON wins, the others get ALREADY_ON or ON_PENDING.
pub struct CpuPower(core::sync::atomic::AtomicU32);

const P_OFF: u32 = 0;
const P_ON: u32 = 1;
const P_PENDING: u32 = 2;
const P_ABSENT: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    Off,
    On,
    OnPending,
}

impl CpuPower {
    pub const fn new() -> Self {
        CpuPower(core::sync::atomic::AtomicU32::new(P_OFF))
    }
    pub fn get(&self) -> Power {
        match self.0.load(core::sync::atomic::Ordering::Acquire) {
            P_ON => Power::On,
            P_PENDING => Power::OnPending,
            _ => Power::Off,
        }
    }
    /// CPU_ON: Off -> OnPending, or the PSCI error for the state it is in.
    pub fn request_on(&self) -> Result<(), u32> {
        use core::sync::atomic::Ordering::*;
        match self.0.compare_exchange(P_OFF, P_PENDING, AcqRel, Acquire) {
            Ok(_) => Ok(()),
            Err(P_PENDING) => Err(ON_PENDING),
            Err(P_ABSENT) => Err(INTERNAL_FAILURE),
            Err(_) => Err(ALREADY_ON),
        }
    }
    /// The physical CPU could not be started: back to Off.
    pub fn start_failed(&self) {
        let _ = self.0.compare_exchange(
            P_PENDING,
            P_OFF,
            core::sync::atomic::Ordering::AcqRel,
            core::sync::atomic::Ordering::Acquire,
        );
    }
    /// The CPU arrived in the runtime to enter the payload: OnPending -> On. False if nobody asked.
    pub fn arrived(&self) -> bool {
        use core::sync::atomic::Ordering::*;
        self.0.compare_exchange(P_PENDING, P_ON, AcqRel, Acquire).is_ok()
    }
    /// The boot CPU, on for the payload from the start.
    pub fn set_on(&self) {
        self.0.store(P_ON, core::sync::atomic::Ordering::Release);
    }
    /// The physical CPU never arrived where hypfw could start it (it is not there, or its
    /// bootloader did not park it where hypfw looked): a CPU_ON fails at once with
    /// INTERNAL_FAILURE, for good, rather than wait for it inside the payload's call again, and
    /// AFFINITY_INFO says it is off.
    pub fn absent(&self) {
        self.0.store(P_ABSENT, core::sync::atomic::Ordering::Release);
    }
    /// Marked [`absent`](Self::absent).
    pub fn is_absent(&self) -> bool {
        self.0.load(core::sync::atomic::Ordering::Relaxed) == P_ABSENT
    }
    /// CPU_OFF.
    pub fn off(&self) {
        self.0.store(P_OFF, core::sync::atomic::Ordering::Release);
    }
}

impl Default for CpuPower {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod power_tests {
    use super::*;

    #[test]
    fn an_absent_cpu_fails_cpu_on_and_reads_off() {
        let p = CpuPower::new();
        p.absent();
        assert_eq!(p.request_on(), Err(INTERNAL_FAILURE));
        assert_eq!(p.request_on(), Err(INTERNAL_FAILURE), "for good");
        assert_eq!(p.get(), Power::Off, "off, for AFFINITY_INFO and the handover's check");
        assert!(p.is_absent() && !p.arrived());
    }

    #[test]
    fn on_off_cycle_bookkeeping() {
        let p = CpuPower::new();
        assert!(!p.arrived(), "no CPU_ON was asked for");
        assert_eq!(p.request_on(), Ok(()));
        assert_eq!(p.get(), Power::OnPending);
        assert_eq!(p.request_on(), Err(ON_PENDING));
        assert!(p.arrived());
        assert_eq!(p.request_on(), Err(ALREADY_ON));
        p.off();
        assert_eq!(p.get(), Power::Off);
        assert_eq!(p.request_on(), Ok(()));
        p.start_failed();
        assert_eq!(p.get(), Power::Off);
    }

    /// Many CPUs asking at once: exactly one CPU_ON succeeds.
    #[test]
    fn one_cpu_on_wins() {
        let p = std::sync::Arc::new(CpuPower::new());
        let wins: usize = (0..8)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || p.request_on().is_ok() as usize)
            })
            .collect::<std::vec::Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(wins, 1);
    }
}
