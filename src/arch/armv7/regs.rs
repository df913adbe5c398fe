//! The HYP and virtualization registers `aarch32-cpu` does not define, on its `SysReg` traits
//! (encodings: ARM DDI 0406C B3.17/B4.1; cross-checked in shared/docs/armv7-hyp-facts.md §1).

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
    /// Virtualization Translation Control Register.
    Vtcr, 4, 2, 1, 2
);
sysreg32!(
    /// TLB Invalidate All, Hyp mode (write-only; value ignored).
    Tlbiallh, 4, 8, 7, 0
);
sysreg32!(
    /// Non-secure PL1 System Control Register, written from HYP before entering a guest.
    Sctlr, 0, 1, 0, 0
);
sysreg32!(
    /// Non-secure PL1 Vector Base Address Register.
    Vbar, 0, 12, 0, 0
);
sysreg32!(
    /// Hyp Configuration Register (written whole; aarch32-cpu's bitfield view is used for reads).
    HcrRaw, 4, 1, 1, 0
);
sysreg32!(HstrRaw, 4, 1, 1, 3);
sysreg32!(
    /// TLB Invalidate All entries of the Non-secure non-HYP regime (stage 1 and 2), this CPU.
    Tlbiallnsnh, 4, 8, 7, 4
);
sysreg32!(Ttbcr, 0, 2, 0, 2);
sysreg32!(Dfsr, 0, 5, 0, 0);
sysreg32!(Ifsr, 0, 5, 0, 1);
sysreg32!(Dfar, 0, 6, 0, 0);
sysreg32!(Ifar, 0, 6, 0, 2);
sysreg32!(HcptrRaw, 4, 1, 1, 2);
sysreg32!(HdcrRaw, 4, 1, 1, 1);
sysreg32!(CnthctlRaw, 4, 14, 1, 0);
sysreg32!(VpidrRaw, 4, 0, 0, 0);
sysreg32!(VmpidrRaw, 4, 0, 0, 5);
sysreg32!(HvbarRaw, 4, 12, 0, 0);
sysreg32!(HsrRaw, 4, 5, 2, 0);
sysreg32!(HdfarRaw, 4, 6, 0, 0);
sysreg32!(HifarRaw, 4, 6, 0, 2);
sysreg32!(HpfarRaw, 4, 6, 0, 4);
sysreg32!(HsctlrRaw, 4, 1, 0, 0);
sysreg32!(HtpidrRaw, 4, 13, 0, 2);
sysreg64!(CntvoffRaw, 4, 14);

/// ELR_hyp (banked; MRS/MSR are allowed from HYP for this one).
pub fn elr_hyp() -> u32 {
    let v: u32;
    // SAFETY: reading a banked register has no side effects.
    unsafe {
        core::arch::asm!(".arch_extension virt", "mrs {v}, elr_hyp", v = out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// SPSR of the current mode (SPSR_hyp when called in HYP).
pub fn spsr() -> u32 {
    let v: u32;
    // SAFETY: reading SPSR has no side effects.
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
/// The value must be valid for the register and safe for the code currently running.
pub unsafe fn write<R: SysRegWrite>(v: u32) {
    // SAFETY: forwarded to the caller.
    unsafe {
        R::write_raw(v);
        core::arch::asm!("isb", options(nomem, nostack, preserves_flags));
    }
}

pub fn read64<R: SysRegRead64>() -> u64 {
    R::read_raw()
}

/// # Safety
/// As [`write`].
pub unsafe fn write64<R: SysRegWrite64>(v: u64) {
    // SAFETY: forwarded to the caller.
    unsafe {
        R::write_raw(v);
        core::arch::asm!("isb", options(nomem, nostack, preserves_flags));
    }
}

/// Set the payload's Abort-mode SPSR and LR (banked registers; MSR (banked) is allowed from HYP).
///
/// # Safety
/// Changes PL1 state the payload will see when it next runs in Abort mode.
pub unsafe fn set_abt_banked(spsr: u32, lr: u32) {
    // SAFETY: forwarded to the caller.
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
