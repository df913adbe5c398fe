//! The few GICv2 registers hypfw touches: in Secure state, before it drops to Non-secure, it makes
//! every interrupt Group 1 (Non-secure) and enables both groups, so that the Non-secure payload
//! can use the GIC (ARM IHI 0048B 4.3.1, 4.3.10, 4.4.1, 4.4.2).

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_structs! {
    pub Distributor {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => typer: ReadOnly<u32>),
        (0x008 => _reserved0),
        (0x080 => igroupr: [ReadWrite<u32>; 32]),
        (0x100 => @END),
    }
}

register_structs! {
    pub CpuInterface {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => pmr: ReadWrite<u32>),
        (0x008 => @END),
    }
}

/// Once, on the boot CPU, in Secure state: all SPIs to Group 1, both groups enabled.
///
/// # Safety
/// `dist` must be the GIC distributor's address in the current regime (MMU off: its PA).
pub unsafe fn secure_init_distributor(dist: usize) {
    // SAFETY: the caller guarantees the address; the block is 0x100 bytes of GICD registers.
    let d = unsafe { &*(dist as *const Distributor) };
    d.ctlr.modify(tock_registers::fields::FieldValue::<u32, ()>::new(0b11, 0, 0b11));
    let lines = (d.typer.get() & 0x1F) as usize; // ITLinesNumber: 32 * (N + 1) interrupts
    for i in 1..=lines.min(31) {
        d.igroupr[i].set(!0);
    }
}

/// On every CPU, in Secure state: its banked SGIs/PPIs to Group 1, CPU interface enabled for both
/// groups, priority mask fully open.
///
/// # Safety
/// As [`secure_init_distributor`], for both addresses.
pub unsafe fn secure_init_cpu(dist: usize, cpu: usize) {
    // SAFETY: as above.
    let (d, c) = unsafe { (&*(dist as *const Distributor), &*(cpu as *const CpuInterface)) };
    d.igroupr[0].set(!0);
    c.ctlr.set(0b11);
    c.pmr.set(0xFF);
}
