//! All of `boot/*.S` as one `global_asm!` block (one block, because the files share macros),
//! with every constant and structure offset taken from Rust.

use crate::runtime::guest::GuestContext;
use crate::runtime::init::{InitParams, PenSlot};
use core::mem::offset_of;
use hypfw::layout;

core::arch::global_asm!(
    concat!(
        include_str!("../../../boot/macros.S"),
        include_str!("../../../boot/entry.S"),
        include_str!("../../../boot/init_page.S"),
        include_str!("../../../boot/monitor.S"),
        include_str!("../../../boot/vectors.S"),
    ),
    MODE_HYP = const super::MODE_HYP,
    MODE_SVC = const super::MODE_SVC,
    CTRL_M = const 1,
    CTRL_C = const 4,
    CTRL_M_C = const 5,
    SCTLR_V = const 1 << 13,
    ENTRY_MMU_WAS_ON = const crate::boot::ENTRY_MMU_WAS_ON,
    ENTRY_DCACHE_WAS_ON = const crate::boot::ENTRY_DCACHE_WAS_ON,
    RELOC_MAGIC = const hypfw::reloc::MAGIC,
    RELOC_TABLE_BYTES = const hypfw::reloc::TABLE_BYTES,
    BOOT_STACK_SIZE = const crate::boot::BOOT_STACK_SIZE,
    IP_HMAIR0 = const offset_of!(InitParams, hmair0),
    IP_HMAIR1 = const offset_of!(InitParams, hmair1),
    IP_HTCR = const offset_of!(InitParams, htcr),
    IP_HSCTLR = const offset_of!(InitParams, hsctlr),
    IP_BOOT_HTTBR_LO = const offset_of!(InitParams, boot_httbr),
    IP_BOOT_HTTBR_HI = const offset_of!(InitParams, boot_httbr) + 4,
    IP_RUNTIME_HTTBR_LO = const offset_of!(InitParams, runtime_httbr),
    IP_RUNTIME_HTTBR_HI = const offset_of!(InitParams, runtime_httbr) + 4,
    IP_VECTORS_VA = const offset_of!(InitParams, vectors_va),
    IP_ENTRY_VA = const offset_of!(InitParams, entry_va),
    IP_STACK_TOP = const offset_of!(InitParams, stack_top_va),
    IP_PERCPU = const offset_of!(InitParams, percpu_va),
    IP_NCPUS = const offset_of!(InitParams, ncpus),
    IP_MPIDR = const offset_of!(InitParams, mpidr),
    IP_GICD = const offset_of!(InitParams, gicd),
    IP_GICC = const offset_of!(InitParams, gicc),
    IP_CNTFRQ = const offset_of!(InitParams, cntfrq),
    PEN_SLOT_SHIFT = const core::mem::size_of::<PenSlot>().trailing_zeros(),
    PEN_RELEASE = const offset_of!(PenSlot, release),
    PEN_STATUS = const offset_of!(PenSlot, status),
    TEARDOWN_REINIT = const crate::runtime::hotplug::TEARDOWN_REINIT,
    TEARDOWN_PEN = const crate::runtime::hotplug::TEARDOWN_PEN,
    PSCI_CPU_OFF_LO = const 0x0002,
    PSCI_CPU_OFF_HI = const 0x8400,
    HSCTLR_M_C = const 5,
    HSCTLR_I = const 1 << 12,
    TRAMPOLINE_HI = const layout::TRAMPOLINE_VA & 0xFF00_0000,
    TRAMPOLINE_LO = const layout::TRAMPOLINE_VA & 0x00FF_0000,
    SEMIHOSTING = const cfg!(feature = "semihosting") as u32,
    NSACR_BITS_LO = const 0x3FFF,
    NSACR_BITS_HI = const 0x4,
    ACTLR_SMP = const 1 << 6,
    SCR_CLEAR = const 0b1100_1110, // IRQ, FIQ, EA, nET, SCD: interrupts and SMC stay Non-secure
    SCR_SET = const 0x131,         // NS | FW | AW | HCE
    SPSR_HYP_MASKED = const 0x1DA, // A | I | F | HYP
    GUARD_TEST_MASK = const layout::GUARD_TEST_MASK,
    GUARD_ESCAPE = const layout::GUARD_ESCAPE,
    GC_LR = const offset_of!(GuestContext, lr_usr),
    GC_ELR = const offset_of!(GuestContext, elr),
    GC_SPSR = const offset_of!(GuestContext, spsr),
);
