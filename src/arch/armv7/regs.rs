//! System registers: `aarch32-cpu`'s types where it has them, and the HYP and virtualization
//! registers it does not define on its `SysReg` traits (encodings: ARM DDI 0406C B3.17/B4.1;
//! cross-checked in shared/docs/armv7-hyp-facts.md §1). Values are written whole with [`write`],
//! built from the named fields of `hypfw_core::abi::bits`.

use aarch32_cpu::register::{SysReg, SysReg64, SysRegRead, SysRegRead64, SysRegWrite, SysRegWrite64};

macro_rules! sysreg32 {
    ($(#[$m:meta])* $name:ident, $op1:expr, $crn:expr, $crm:expr, $op2:expr) => {
        $(#[$m])*
        pub struct $name;
        impl SysReg for $name {
            const CP: u32 = 15;
            const CRN: u32 = $crn;
            const OP1: u32 = $op1;
            const CRM: u32 = $crm;
            const OP2: u32 = $op2;
        }
        impl SysRegRead for $name {}
        impl SysRegWrite for $name {}
    };
}

macro_rules! sysreg64 {
    ($(#[$m:meta])* $name:ident, $op1:expr, $crm:expr) => {
        $(#[$m])*
        pub struct $name;
        impl SysReg64 for $name {
            const CP: u32 = 15;
            const OP1: u32 = $op1;
            const CRM: u32 = $crm;
        }
        impl SysRegRead64 for $name {}
        impl SysRegWrite64 for $name {}
    };
}

// The registers `aarch32-cpu` defines are used from there.
pub use aarch32_cpu::register::{
    CntVoff, Cnthctl, Dfar, Dfsr, Hcptr, Hcr, Hdcr, Hdfar, Hifar, Hpfar, Hsctlr, Hsr, Hstr, Htpidr, Hvbar, Ifar, Ifsr,
    Sctlr, Vbar, Vmpidr, Vpidr,
};

sysreg64!(
    /// Hyp Translation Table Base Register.
    Httbr, 4, 2
);
sysreg64!(
    /// Virtualization Translation Table Base Register (stage 2).
    Vttbr, 6, 2
);
sysreg32!(
    /// Hyp Translation Control Register.
    Htcr, 4, 2, 0, 2
);
sysreg32!(
    /// Hyp Memory Attribute Indirection Register 0.
    Hmair0, 4, 10, 2, 0
);
sysreg32!(
    /// Hyp Memory Attribute Indirection Register 1.
    Hmair1, 4, 10, 2, 1
);
sysreg32!(
    /// Virtualization Translation Control Register.
    Vtcr, 4, 2, 1, 2
);
sysreg32!(
    /// TLB Invalidate All, Hyp mode (write-only; value ignored).
    Tlbiallh, 4, 8, 7, 0
);
sysreg32!(
    /// TLB Invalidate All entries of the Non-secure non-HYP regime (stage 1 and 2), this CPU
    /// (write-only; value ignored).
    Tlbiallnsnh, 4, 8, 7, 4
);
sysreg32!(
    /// The payload's Translation Table Base Control Register (EAE tells its descriptor format).
    Ttbcr, 0, 2, 0, 2
);

/// ELR_hyp (banked; MRS/MSR are allowed from HYP for this one).
pub fn elr_hyp() -> u32 {
    let v: u32;
    // SAFETY: only reads ELR_hyp into a register (MRS banked is defined from HYP).
    unsafe {
        core::arch::asm!(".arch_extension virt", "mrs {v}, elr_hyp", v = out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// SPSR of the current mode (SPSR_hyp when called in HYP).
pub fn spsr() -> u32 {
    let v: u32;
    // SAFETY: only reads SPSR of the current mode into a register.
    unsafe { core::arch::asm!("mrs {v}, spsr", v = out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Read a 32-bit register.
pub fn read<R: SysRegRead>() -> u32 {
    R::read_raw()
}

/// Write a 32-bit register, then ISB.
///
/// # Safety
/// 1. `v` is a valid value for `R` (reserved bits as the architecture requires);
/// 2. the new value does not take away anything the running code relies on (its own mappings,
///    vectors or stack), or the caller never returns to such code.
pub unsafe fn write<R: SysRegWrite>(v: u32) {
    // SAFETY: the caller's obligations 1 and 2 are what makes the register write sound; the ISB
    // only synchronises it.
    unsafe {
        R::write_raw(v);
        core::arch::asm!("isb", options(nomem, nostack, preserves_flags));
    }
}

/// Write a 32-bit register without the ISB: for a batch of writes that the caller ends with one
/// [`super::isb`] before anything depends on them.
///
/// # Safety
/// As [`write`], and the caller issues an ISB before relying on the new value.
pub unsafe fn write_batched<R: SysRegWrite>(v: u32) {
    // SAFETY: the caller's obligations make the write sound and synchronise it.
    unsafe { R::write_raw(v) }
}

/// [`write_batched`] for a 64-bit register.
///
/// # Safety
/// As [`write64`], and the caller issues an ISB before relying on the new value.
pub unsafe fn write64_batched<R: SysRegWrite64>(v: u64) {
    // SAFETY: the caller's obligations make the write sound and synchronise it.
    unsafe { R::write_raw(v) }
}

pub fn read64<R: SysRegRead64>() -> u64 {
    R::read_raw()
}

/// Write a 64-bit register, then ISB.
///
/// # Safety
/// 1. `v` is a valid value for `R`;
/// 2. the new value does not take away anything the running code relies on, or the caller never
///    returns to such code.
pub unsafe fn write64<R: SysRegWrite64>(v: u64) {
    // SAFETY: the caller's obligations make the register write sound; the ISB only synchronises.
    unsafe {
        R::write_raw(v);
        core::arch::asm!("isb", options(nomem, nostack, preserves_flags));
    }
}

/// Set the payload's Abort-mode SPSR and LR (banked registers; MSR (banked) is allowed from HYP).
///
/// # Safety
/// 1. only called from HYP (the banked registers of another mode are reachable from there);
/// 2. the values are the ones an Abort exception entry would write for the PL1 code that runs
///    next on this CPU.
pub unsafe fn set_abt_banked(spsr: u32, lr: u32) {
    // SAFETY: obligation 1 makes MSR (banked) defined; obligation 2 keeps the PL1 code's view of
    // an exception entry consistent. No HYP state changes.
    unsafe {
        core::arch::asm!(
            ".arch_extension virt",
            "msr spsr_abt, {s}",
            "msr lr_abt, {l}",
            s = in(reg) spsr,
            l = in(reg) lr,
            options(nomem, nostack, preserves_flags)
        )
    };
}

macro_rules! banked {
    ($($variant:ident => $name:literal),* $(,)?) => {
        // The tables below are in `Banked`'s order: each variant's number is its entry.
        const _: () = {
            let mut i = 0;
            $(
                assert!(Banked::$variant as usize == i, "banked! lists `Banked` in its order");
                i += 1;
            )*
            assert!(i == 16);
        };

        /// Read a register of another mode (MRS banked, ARM DDI 0406C B9.3.9): a payload's
        /// register that the world switch does not save because HYP never uses it. A jump into a
        /// table of MRS/branch pairs: a `match` of sixteen `asm!` blocks is twice the code, and
        /// the resident text has no room to spare.
        pub fn read_banked(r: Banked) -> u32 {
            let v: u32;
            // SAFETY: only copies another mode's banked register into a general one (MRS banked
            // is defined from HYP for every mode but HYP and Monitor); `r as u32` < 16 picks one
            // of the table's sixteen 8-byte entries, each of which branches to the end.
            unsafe {
                core::arch::asm!(
                    ".arch_extension virt",
                    "add pc, pc, {i}, lsl #3",
                    "nop",
                    $(concat!("mrs {v}, ", $name), "b 3f",)*
                    "3:",
                    i = in(reg) r as u32,
                    v = out(reg) v,
                    options(nomem, nostack, preserves_flags)
                )
            }
            v
        }

        /// Write a register of another mode (MSR banked, B9.3.12), through a table as
        /// [`read_banked`].
        ///
        /// # Safety
        /// 1. only called from HYP;
        /// 2. `v` is what the PL1 code that runs next on this CPU must find in that register
        ///    (e.g. the result of a load it made that the runtime carried out).
        pub unsafe fn write_banked(r: Banked, v: u32) {
            // SAFETY: obligation 1 makes MSR (banked) defined; obligation 2 is the PL1 code's own
            // register state. No HYP state changes. The entry is picked as in `read_banked`.
            unsafe {
                core::arch::asm!(
                    ".arch_extension virt",
                    "add pc, pc, {i}, lsl #3",
                    "nop",
                    $(concat!("msr ", $name, ", {v}"), "b 3f",)*
                    "3:",
                    i = in(reg) r as u32,
                    v = in(reg) v,
                    options(nomem, nostack, preserves_flags)
                )
            }
        }
    };
}

pub use hypfw_core::services::mmio::Banked;

banked! {
    SpUsr => "sp_usr",
    R8Fiq => "r8_fiq",
    R9Fiq => "r9_fiq",
    R10Fiq => "r10_fiq",
    R11Fiq => "r11_fiq",
    R12Fiq => "r12_fiq",
    SpFiq => "sp_fiq",
    LrFiq => "lr_fiq",
    SpIrq => "sp_irq",
    LrIrq => "lr_irq",
    SpSvc => "sp_svc",
    LrSvc => "lr_svc",
    SpAbt => "sp_abt",
    LrAbt => "lr_abt",
    SpUnd => "sp_und",
    LrUnd => "lr_und",
}

/// Invalidate the TLB entries of the Non-secure PL1&0 regime (both stages) on this CPU, and wait
/// until that is done: after VTTBR, VTCR or HCR.VM change under the payload.
pub fn tlbi_all_pl1() {
    // SAFETY: invalidating TLB entries never changes a translation, only forces a new walk.
    unsafe { write::<Tlbiallnsnh>(0) };
    super::dsb_ish_isb();
}
