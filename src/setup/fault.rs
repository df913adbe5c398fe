//! An exception in the boot phase (boot/entry.S's `hypfw_boot_vectors`, and `_pl1` while the
//! boot phase runs in SVC): say what happened and where, in words, and stop. The usual cause on a
//! board is an external abort: the device tree gives RAM or a device at an address where nothing
//! answers (a `/memory` node larger than the board's RAM, a tree for another board).

use crate::fatal;
use hypfw_core::services::hsr::{self, Hsr};

/// One line for every kind: `what` at `addr` (the fault address of an abort, else the PC), the
/// PC, the fault status in words, the syndrome register, and for an external abort what it means.
#[inline(never)]
fn report(what: &str, addr: u32, pc: u32, fsc: u32, reg: &str, value: u32) -> ! {
    fatal!(
        "boot phase: {what} {addr:#010x} at PC {pc:#010x} ({}, {reg} {value:#x}){}",
        hsr::fsc_name(fsc),
        if fsc == 0x10 {
            ": nothing answered there; if the device tree says it is RAM, /memory is larger than the board's RAM"
        } else {
            ""
        }
    )
}

/// From the HYP vectors: the syndrome, the faulting instruction, and both fault addresses.
#[unsafe(no_mangle)]
extern "C" fn hypfw_boot_fault_hyp(hsr: u32, elr: u32, hdfar: u32, hifar: u32) -> ! {
    let h = Hsr(hsr);
    let (what, addr) = match h.ec() {
        hsr::EC_DABT_HYP if h.is_write() => ("data abort writing", hdfar),
        hsr::EC_DABT_HYP => ("data abort reading", hdfar),
        hsr::EC_PABT_HYP => ("prefetch abort at", hifar),
        hsr::EC_UNKNOWN => ("undefined instruction at", elr),
        _ => (h.ec_name(), elr),
    };
    let fsc = if matches!(h.ec(), hsr::EC_DABT_HYP | hsr::EC_PABT_HYP) { h.fsc() } else { 0x3F };
    report(what, addr, elr, fsc, "HSR", hsr)
}

/// A PL1 fault status (DFSR/IFSR) as a long-descriptor status code, as far as the report needs:
/// bit 9 says which format the register uses (ARM DDI 0406C B4.1.52); in the short format, FS =
/// 0b01000 is a synchronous external abort. Other short codes read as "other fault" (the raw
/// register is in the line).
fn pl1_fsc(fsr: u32) -> u32 {
    if fsr & (1 << 9) != 0 {
        fsr & 0x3F
    } else if fsr & 0x40F == 0x008 {
        0x10
    } else {
        0x3F
    }
}

/// From the PL1 vectors (Secure SVC entry): the vector's offset, the faulting instruction, and
/// the fault status and address of that kind (DFSR/DFAR or IFSR/IFAR; 0 for the others).
#[unsafe(no_mangle)]
extern "C" fn hypfw_boot_fault_pl1(vector: u32, pc: u32, fsr: u32, far: u32) -> ! {
    let (what, addr) = match vector {
        0x10 if fsr & (1 << 11) != 0 => ("data abort writing", far),
        0x10 => ("data abort reading", far),
        0x0C => ("prefetch abort at", far),
        0x04 => ("undefined instruction at", pc),
        _ => ("unexpected exception at", pc),
    };
    let fsc = if matches!(vector, 0x0C | 0x10) { pl1_fsc(fsr) } else { 0x3F };
    report(what, addr, pc, fsc, "SVC, FSR", fsr)
}
