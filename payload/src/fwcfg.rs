//! QEMU's fw_cfg under hypfw, from the payload's side: the selector and data registers still
//! work (the signature reads "QEMU", the feature word without the DMA bit), and a DMA request —
//! which, if the device took it, would make QEMU copy to any physical address, stage 2 or not —
//! is refused with an external abort and never carried out. Each request asks the device to copy
//! the signature somewhere: into a buffer of this payload (seen if it changes) and into hypfw's
//! region (seen in the descriptor's `control` word, which the device clears when it is done).
//! Register layout and descriptor format: QEMU docs/specs/fw_cfg.rst.

// `say!` names `Console` and `writeln!` where it is used.
use crate::{Checks, aborts};
use core::fmt::Write;
use core::ptr::{read_volatile, write_volatile};
use hypfw_core::services::fwcfg::{DATA, DMA_ADDRESS, ID_DMA, ID_TRADITIONAL, KEY_ID, KEY_SIGNATURE, SELECTOR};

/// `FWCfgDmaAccess` control bits.
const DMA_CTL_READ: u32 = 1 << 1;
const DMA_CTL_SELECT: u32 = 1 << 3;

/// A DMA descriptor: control, length, address, all big-endian.
#[repr(C, align(8))]
struct DmaAccess {
    control: u32,
    length: u32,
    address: u64,
}

static mut DESCRIPTOR: DmaAccess = DmaAccess { control: 0, length: 0, address: 0 };
static mut BUFFER: [u8; 8] = [0; 8];
const FILL: u8 = 0xA5;

pub fn check(c: &mut Checks, dtb: usize, hypfw: (u64, u64)) {
    // SAFETY: the tree hypfw passed in r2, as `read_platform` reads it; nothing writes it.
    let blob = unsafe { fdt::Fdt::from_ptr(dtb as *const u8) }
        .ok()
        // SAFETY: the same blob, as long as its checked header says.
        .map(|f| unsafe { core::slice::from_raw_parts(dtb as *const u8, f.total_size()) });
    let Some((base, _)) = blob.and_then(|b| hypfw_core::platform::dtb::parse(b).ok()).and_then(|p| p.fw_cfg) else {
        say!("no fw_cfg in the device tree (not QEMU virt): nothing to check");
        return;
    };
    let base = base as usize;
    let reg = |off: u64| base + off as usize;

    select(reg(SELECTOR), KEY_SIGNATURE);
    let mut sig = [0u8; 4];
    for b in &mut sig {
        // SAFETY: fw_cfg's data register (device tree), which accepts byte reads.
        *b = unsafe { read8(reg(DATA)) };
    }
    c.check(
        "fw_cfg signature through the data register",
        &sig == b"QEMU",
        format_args!("{:?}", core::str::from_utf8(&sig).unwrap_or("not text")),
    );
    select(reg(SELECTOR), KEY_ID);
    // SAFETY: the data register again, one 32-bit read (FW_CFG_ID is a little-endian word).
    let id = unsafe { read32(reg(DATA)) };
    c.check(
        "fw_cfg FW_CFG_ID: traditional interface, DMA hidden",
        id as u8 & (ID_TRADITIONAL | ID_DMA) == ID_TRADITIONAL,
        format_args!("{id:#x}"),
    );

    // The same through LR, which SVC mode banks: hypfw must take the selector from LR_svc and
    // load the data into LR_svc, not into the registers its world switch saves.
    let id_lr: u32;
    // SAFETY: a 16-bit big-endian selector write and a 32-bit data read of fw_cfg (device tree),
    // both through LR, which is declared clobbered.
    unsafe {
        core::arch::asm!(
            "mov lr, {key}",
            "strh lr, [{sel}]",
            "mov lr, #0",
            "ldr lr, [{data}]",
            "mov {out}, lr",
            key = in(reg) KEY_ID.to_be() as u32,
            sel = in(reg) reg(SELECTOR),
            data = in(reg) reg(DATA),
            out = out(reg) id_lr,
            out("lr") _,
            options(nostack),
        )
    };
    c.check("fw_cfg FW_CFG_ID through LR_svc", id_lr == id, format_args!("{id_lr:#x}"));

    let buffer = (&raw const BUFFER) as usize;
    for (what, target) in [
        ("fw_cfg DMA request into this payload's memory refused", buffer as u64),
        ("fw_cfg DMA request into hypfw's region refused", hypfw.0 + 0x1000),
    ] {
        let (refused, control, detail) = dma_request(reg(DMA_ADDRESS), target);
        // SAFETY: a static of this payload; the refused request must not have written it.
        let buf = unsafe { read_volatile(&raw const BUFFER) };
        let untouched = buf == [FILL; 8];
        c.check(
            what,
            refused && control != 0 && untouched,
            format_args!("{detail}, descriptor control {control:#x}, buffer untouched {untouched}"),
        );
    }
    let v = smccc::hvc32(hypfw_core::services::hvc::HYPFW_VERSION, [0; 7])[0];
    c.check("HVC HYPFW_VERSION after the DMA requests", v == 1, format_args!("{v:#x}"));
}

fn select(selector: usize, key: u16) {
    // SAFETY: fw_cfg's selector register: one big-endian 16-bit write.
    unsafe {
        core::arch::asm!("strh {v}, [{a}]", a = in(reg) selector, v = in(reg) key.to_be() as u32, options(nostack))
    };
}

// fw_cfg's registers are reached only with single loads and stores without writeback, as Linux's
// MMIO accessors do: those are the accesses whose syndrome lets hypfw carry them out (a compiler
// may otherwise pick a writeback form such as `strh r0, [r1, #8]!`, which hypfw must refuse).

/// # Safety
/// `at` is a device register that accepts a byte read.
unsafe fn read8(at: usize) -> u8 {
    let v: u32;
    // SAFETY: the caller's obligation; LDRB only reads `at`.
    unsafe { core::arch::asm!("ldrb {v}, [{a}]", a = in(reg) at, v = out(reg) v, options(nostack)) };
    v as u8
}

/// # Safety
/// `at` is a device register that accepts a word read.
unsafe fn read32(at: usize) -> u32 {
    let v: u32;
    // SAFETY: the caller's obligation; LDR only reads `at`.
    unsafe { core::arch::asm!("ldr {v}, [{a}]", a = in(reg) at, v = out(reg) v, options(nostack)) };
    v
}

/// Ask the device to copy the signature (4 bytes) to `target`: a descriptor in this payload's
/// memory, its address written to the low half of the DMA address register, which starts a
/// transfer at once. Returns (the write aborted, the descriptor's control word afterwards, what
/// the abort said).
fn dma_request(dma: usize, target: u64) -> (bool, u32, impl core::fmt::Display) {
    let control = DMA_CTL_SELECT | DMA_CTL_READ | (KEY_SIGNATURE as u32) << 16;
    // SAFETY: this payload's own statics; the MMU is off, so the device (if it ever ran the
    // request) and this CPU see memory alike.
    unsafe {
        write_volatile(&raw mut BUFFER, [FILL; 8]);
        write_volatile(
            &raw mut DESCRIPTOR,
            DmaAccess { control: control.to_be(), length: 4u32.to_be(), address: target.to_be() },
        );
    }
    let desc = (&raw const DESCRIPTOR) as u32;
    let before = aborts();
    // SAFETY: the DMA address register's low half (offset 4 of it). Under hypfw the write must
    // abort, and the data-abort handler steps over it; were it carried out, the device would
    // copy 4 bytes to `target` and clear the descriptor's control word.
    unsafe { core::arch::asm!("str {v}, [{a}]", a = in(reg) dma + 4, v = in(reg) desc.to_be(), options(nostack)) };
    let aborted = aborts() == before + 1;
    // SAFETY: plain words this CPU's data-abort handler wrote, and the descriptor.
    let (dfsr, dfar, ctl) = unsafe {
        (
            read_volatile(&raw const crate::LAST_DFSR),
            read_volatile(&raw const crate::LAST_DFAR),
            u32::from_be(read_volatile(&raw const DESCRIPTOR.control)),
        )
    };
    struct Seen(bool, u32, u32);
    impl core::fmt::Display for Seen {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            if self.0 {
                write!(f, "external abort, DFSR {:#x}, DFAR {:#x}", self.1, self.2)
            } else {
                write!(f, "no abort")
            }
        }
    }
    let refused = aborted && dfar as usize == dma + 4;
    if !refused {
        say!("fw_cfg DMA request to {target:#x}: the write to {:#x} did not abort", dma + 4);
    }
    (refused, ctl, Seen(aborted, dfsr, dfar))
}
