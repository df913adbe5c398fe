//! What the runtime offers the payload and how it reads its exits: the HVC interface, the PSCI
//! proxy's decoding, the Hyp Syndrome Register, the external abort a stage-2 fault becomes, and
//! the loads and stores it carries out itself (`mmio`) for QEMU's fw_cfg (`fwcfg`) and
//! around the SoC's CPU release registers (`release`).
//! Every number here comes from a less privileged mode and is validated before anything acts on it.

pub mod fwcfg;
pub mod hsr;
pub mod hvc;
pub mod inject;
pub mod mmio;
pub mod psci;
pub mod release;
