//! Exceptions taken in HYP itself: never expected. Report everything that helps, then stop.

use crate::arch::regs;
use crate::fatal;
use hypfw_core::mm::layout;
use hypfw_core::services::hsr::{self, Hsr};

/// Pushed by `unexpected_vector` in boot/vectors.S.
#[repr(C)]
pub struct TrapFrame {
    pub r: [u32; 13],
    pub lr: u32,
}

const VECTOR_NAMES: [&str; 8] = [
    "reset",
    "undefined instruction in HYP",
    "HVC/SVC executed in HYP",
    "prefetch abort in HYP",
    "data abort in HYP",
    "trap from PL0/PL1",
    "IRQ",
    "FIQ",
];

#[unsafe(no_mangle)]
extern "C" fn hypfw_hyp_unexpected(frame: &TrapFrame, vector: u32) -> ! {
    let h = Hsr(regs::read::<regs::Hsr>());
    let hdfar = regs::read::<regs::Hdfar>();
    let hifar = regs::read::<regs::Hifar>();
    let hpfar = regs::read::<regs::Hpfar>();
    let cpu = super::this_cpu().index;
    crate::log!(
        "cpu{cpu}: unexpected exception: {} (vector {:#x})",
        VECTOR_NAMES.get(vector as usize).unwrap_or(&"?"),
        vector * 4
    );
    crate::log!("  HSR {:#010x}: EC {:#04x} {}, IL {}, ISS {:#x}", h.0, h.ec(), h.ec_name(), h.il() as u8, h.iss());
    if matches!(h.ec(), hsr::EC_DABT_HYP | hsr::EC_PABT_HYP | hsr::EC_DABT_LOWER | hsr::EC_PABT_LOWER) {
        crate::log!(
            "  {} ({}level {}){}",
            hsr::fsc_name(h.fsc()),
            if h.ec() & 1 == 0 { "" } else { "HYP, " },
            hsr::fsc_level(h.fsc()).map_or(-1, |l| l as i32),
            if h.ec() == hsr::EC_DABT_HYP && h.is_write() { ", on a write" } else { "" }
        );
        let l = &super::boot_info().layout;
        if h.ec() == hsr::EC_DABT_HYP && l.stack_window().contains(&hdfar) && hdfar & layout::GUARD_TEST_MASK == 0 {
            crate::log!("  HDFAR is in a stack guard page: HYP stack overflow");
        }
    }
    crate::log!("  ELR_hyp {:#010x}  SPSR_hyp {:#010x}", regs::elr_hyp(), regs::spsr());
    if matches!(h.ec(), hsr::EC_DABT_LOWER | hsr::EC_PABT_LOWER) {
        let ipa = hsr::fault_ipa(hpfar, hdfar);
        crate::log!("  HDFAR {hdfar:#010x}  HIFAR {hifar:#010x}  HPFAR {hpfar:#010x} (IPA {ipa:#x})");
    } else {
        crate::log!("  HDFAR {hdfar:#010x}  HIFAR {hifar:#010x}  HPFAR {hpfar:#010x}");
    }
    const NAMES: [&str; 14] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr"];
    let mut vals = [0u32; 14];
    vals[..13].copy_from_slice(&frame.r);
    vals[13] = frame.lr;
    for row in (0..14).step_by(4) {
        let end = (row + 4).min(14);
        crate::drivers::console::print(format_args!("hypfw:  "));
        for k in row..end {
            crate::drivers::console::print(format_args!(" {:>3} {:#010x}", NAMES[k], vals[k]));
        }
        crate::drivers::console::print(format_args!("\n"));
    }
    let _ = super::report_stacks(super::boot_info());
    fatal!("unexpected {} on cpu{cpu}", VECTOR_NAMES.get(vector as usize).unwrap_or(&"exception"))
}
