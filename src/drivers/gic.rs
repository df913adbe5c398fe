//! The few GICv2 registers hypfw touches: in Secure state, before it drops to Non-secure, it makes
//! every interrupt Group 1 (Non-secure) and enables both groups, so that the Non-secure payload
//! can use the GIC (ARM IHI 0048B 4.3.1, 4.3.10, 4.4.1, 4.4.2). The distributor-wide part runs
//! once, here; each CPU's banked part is one assembly routine (`hypfw_gic_secure_cpu` in
//! boot/monitor.S), which the CPUs released from the entry pen run without a stack.

use core::mem::offset_of;
use hypfw_core::abi::gic;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    pub Distributor {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => typer: ReadOnly<u32>),
        (0x008 => _reserved0),
        (0x080 => igroupr: [ReadWrite<u32>; 32]),
        (0x100 => _reserved1),
        (0xF00 => sgir: WriteOnly<u32>),
        (0xF04 => @END),
    }
}

// The layout above and the offsets the assembly uses are the same registers.
const _: () = assert!(offset_of!(Distributor, ctlr) == gic::GICD_CTLR);
const _: () = assert!(offset_of!(Distributor, typer) == gic::GICD_TYPER);
const _: () = assert!(offset_of!(Distributor, igroupr) == gic::GICD_IGROUPR);
const _: () = assert!(offset_of!(Distributor, sgir) == gic::GICD_SGIR);

unsafe extern "C" {
    fn hypfw_gic_secure_cpu(dist: usize, cpu: usize);
}

/// Once, on the boot CPU, in Secure state: all SPIs to Group 1, both groups enabled.
///
/// # Safety
/// 1. `dist` is the GIC distributor's address in the current regime (MMU off: its PA);
/// 2. the CPU is in Secure state (the group registers are Secure-only).
pub unsafe fn secure_init_distributor(dist: usize) {
    // SAFETY: obligation 1: the block at `dist` is 0x100 bytes of GICD registers, which the
    // register struct describes; MMIO through `tock_registers` is volatile.
    let d = unsafe { &*(dist as *const Distributor) };
    d.ctlr.modify(tock_registers::fields::FieldValue::<u32, ()>::new(gic::CTLR_ENABLE_BOTH, 0, gic::CTLR_ENABLE_BOTH));
    let lines = (d.typer.get() & 0x1F) as usize; // ITLinesNumber: 32 * (N + 1) interrupts
    for i in 1..=lines.min(31) {
        d.igroupr[i].set(!0);
    }
}

/// GICD_TYPER of the distributor at `dist`.
///
/// # Safety
/// `dist` is the GIC distributor's address in the current regime (MMU off: its PA).
pub unsafe fn typer(dist: usize) -> u32 {
    // SAFETY: the caller's obligation; a read of GICD_TYPER has no side effect.
    unsafe { &*(dist as *const Distributor) }.typer.get()
}

/// Wake the other CPUs from WFI: the distributor forwards (bit 0 of GICD_CTLR: Group 0 in Secure
/// state, Group 1 in Non-secure state, the only group without the Security Extensions), then
/// SGI 0 to every CPU interface but this one's. A CPU that is parked with its interrupts masked
/// leaves WFI all the same; the SGI stays pending until its next owner (a kernel takes SGI 0 as
/// a wake-up IPI).
///
/// # Safety
/// `dist` is the GIC distributor's address in the current regime (MMU off: its PA), and nothing
/// has handed the GIC to the payload yet.
pub unsafe fn wake_others(dist: usize) {
    // SAFETY: the caller's obligations; two registers of the block the struct describes.
    let d = unsafe { &*(dist as *const Distributor) };
    d.ctlr.set(d.ctlr.get() | 1);
    crate::arch::dsb_ish_isb();
    d.sgir.set(gic::SGIR_SGI0_TO_OTHERS);
}

/// On every CPU, in Secure state: its banked SGIs/PPIs to Group 1, CPU interface enabled for both
/// groups, priority mask fully open.
///
/// # Safety
/// 1. `dist` and `cpu` are the GIC distributor's and CPU interface's addresses in the current
///    regime (MMU off: their PAs);
/// 2. the CPU is in Secure state.
pub unsafe fn secure_init_cpu(dist: usize, cpu: usize) {
    // SAFETY: obligations 1 and 2 are the routine's preconditions; it writes three registers of
    // those blocks and touches no other memory or stack.
    unsafe { hypfw_gic_secure_cpu(dist, cpu) }
}
