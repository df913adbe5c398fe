//! Logical CPU numbering: the boot CPU is cpu0, the others follow in device-tree order. The init
//! page and the pen find a CPU's index from its MPIDR through the table this produces.

use crate::mm::layout::MAX_CPUS;
use crate::platform::dtb::Cpu;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuMap {
    /// MPIDR affinity (Aff2.Aff1.Aff0) of each logical CPU.
    pub mpidr: [u32; MAX_CPUS],
    pub count: usize,
    /// The boot CPU was not listed in the device tree (it is cpu0 all the same).
    pub boot_not_listed: bool,
}

pub const AFFINITY_MASK: u32 = 0x00FF_FFFF;

impl CpuMap {
    pub fn new(cpus: &[Cpu], boot_mpidr: u32) -> Self {
        let boot = boot_mpidr & AFFINITY_MASK;
        let mut m = CpuMap { mpidr: [0; MAX_CPUS], count: 1, boot_not_listed: false };
        m.mpidr[0] = boot;
        m.boot_not_listed = !cpus.iter().any(|c| c.mpidr & AFFINITY_MASK == boot);
        for c in cpus {
            let a = c.mpidr & AFFINITY_MASK;
            if a != boot && m.count < MAX_CPUS && !m.mpidr[..m.count].contains(&a) {
                m.mpidr[m.count] = a;
                m.count += 1;
            }
        }
        m
    }

    /// Logical index of the CPU with this MPIDR.
    pub fn index_of(&self, mpidr: u32) -> Option<usize> {
        self.mpidr[..self.count].iter().position(|&a| a == mpidr & AFFINITY_MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cpus(ids: &[u32]) -> Vec<Cpu> {
        ids.iter().map(|&m| Cpu { mpidr: m, psci: true }).collect()
    }

    #[test]
    fn boot_cpu_is_zero_and_others_keep_dt_order() {
        let m = CpuMap::new(&cpus(&[0x100, 0x101, 0x0, 0x1]), 0x8000_0101);
        assert_eq!(&m.mpidr[..m.count], &[0x101, 0x100, 0x0, 0x1]);
        assert_eq!(m.index_of(0x8000_0000), Some(2));
        assert!(!m.boot_not_listed);
    }

    #[test]
    fn unlisted_boot_cpu_and_duplicates() {
        let m = CpuMap::new(&cpus(&[0x1, 0x1, 0x2]), 0x0);
        assert_eq!(&m.mpidr[..m.count], &[0x0, 0x1, 0x2]);
        assert!(m.boot_not_listed);
        assert_eq!(m.index_of(0x3), None);
    }

    proptest! {
        #[test]
        fn mapping_is_a_bijection(ids in proptest::collection::vec(0u32..0x300, 0..12), boot in 0u32..0x300) {
            let m = CpuMap::new(&cpus(&ids), boot);
            prop_assert_eq!(m.mpidr[0], boot);
            for i in 0..m.count {
                prop_assert_eq!(m.index_of(m.mpidr[i]), Some(i));
            }
            let mut distinct: Vec<u32> = ids.iter().copied().chain([boot]).collect();
            distinct.sort_unstable();
            distinct.dedup();
            prop_assert_eq!(m.count, distinct.len().min(MAX_CPUS));
        }
    }
}
