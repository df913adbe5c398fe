//! Finding out where hypfw is: the early console, the entry mode (and whether HYP can be reached
//! from it), the CPU, and the platform from the device tree the bootloader passed.

use crate::arch::{self, Mode};
use crate::drivers::console;
use crate::shared::EntryMode;
use crate::{detail, fatal, log};
use core::convert::Infallible;
use hypfw_core::abi::{ENTRY_DCACHE_WAS_ON, ENTRY_MMU_WAS_ON, EarlyInfo};
use hypfw_core::mm::layout::MemRange;
use hypfw_core::platform::cpuid::{IdPfr1, Midr};
use hypfw_core::platform::dtb::{self, Checked, Description, Platform, PsciMethod, UartKind};
use hypfw_core::platform::options::Options;

/// The banner, and what the bootloader left on that must be undone. What else it handed over is a
/// detail line, said once the log's level is known ([`options_known`]), or before a stop that comes
/// first ([`stop_early`]).
pub fn report_entry(info: &EarlyInfo) {
    log!("hypfw {} (ARMv7 HYP firmware)", env!("CARGO_PKG_VERSION"));
    if info.mode_flags & (ENTRY_MMU_WAS_ON | ENTRY_DCACHE_WAS_ON) != 0 {
        log!(
            "entry: the bootloader left the MMU {} and the D-cache {}; cleaned and switched both off",
            if info.mode_flags & ENTRY_MMU_WAS_ON != 0 { "on" } else { "off" },
            if info.mode_flags & ENTRY_DCACHE_WAS_ON != 0 { "on" } else { "off" }
        );
    }
}

/// What the bootloader handed over (a detail line).
fn report_handover(info: &EarlyInfo) {
    detail!(
        "entry: {} mode, load address {:#010x}, r0={:#x} r1={:#x} r2={:#x}",
        arch::mode_name(info.mode_flags),
        info.load_addr,
        info.r0,
        info.r1,
        info.r2
    );
}

/// Stop before the boot options are read: what the bootloader handed over first (kept, like every
/// detail line so far, and shown with the `fatal:` line), then the reason.
pub fn stop_early(info: &EarlyInfo, why: core::fmt::Arguments) -> ! {
    report_handover(info);
    crate::base::stop::fatal(why)
}

/// As [`stop_early`], for a stop in SVC (the boot phase's vectors are in place there) before the
/// device tree is read: where the tree in r2 names a console, the lines go there first, so that a
/// board without a debugger (the wrong CPU, or a bootloader that left it in Non-secure SVC) shows
/// the reason too, not silence. Best effort: a tree that cannot be read changes nothing.
fn stop_on_tree_console(info: &EarlyInfo, why: core::fmt::Arguments) -> ! {
    let at = info.r2 as usize;
    // SAFETY: the boot phase, MMU off, with its vectors: the probe turns an abort (r2 pointing
    // at nothing) into a "no", and a load has no effect on memory.
    if at != 0 && at.is_multiple_of(4) && !console::has_uart() && unsafe { arch::probe_read(at, 4) } {
        // SAFETY: the first word answered, so this is memory, and the tree in r2 is the
        // firmware's to read and tidy, as `platform` would. A tree that cannot be read: the stop
        // as it would have been.
        let (_, _, d) = unsafe { read_tree(at as u64, |_| stop_early(info, why)) };
        if let Some(c) = d.platform.console {
            switch_console(&c, "UART");
        }
    }
    stop_early(info, why)
}

/// Decide from the entry mode whether and how HYP can be reached; stop with the reason if not.
pub fn check_mode(info: &EarlyInfo) -> EntryMode {
    let mode = info.mode_flags & Mode::MASK;
    let pfr1 = IdPfr1(arch::id_pfr1());
    let midr = arch::midr();
    log!("cpu: {} (MIDR {midr:#010x}); {pfr1}", Midr(midr));
    let pfr1_raw = pfr1.0;
    match Mode::of(mode) {
        Some(Mode::Hyp) => EntryMode::NsHyp,
        Some(Mode::Svc) if !pfr1.virtualization() => stop_on_tree_console(
            info,
            format_args!(
                "entered in SVC mode on a CPU without the Virtualization Extensions (ID_PFR1 {pfr1_raw:#010x}, \
                 Virtualization field 0): hypfw needs HYP mode (QEMU: -M virt,virtualization=on -cpu cortex-a15)"
            ),
        ),
        Some(Mode::Svc) if !pfr1.security() || !arch::probe_secure_svc() => stop_on_tree_console(
            info,
            format_args!(
                "entered in Non-secure SVC mode: HYP cannot be reached from there. Enter hypfw in HYP mode \
                 (U-Boot: bootm_boot_mode=nonsec; QEMU: -M virt,virtualization=on) or in Secure SVC"
            ),
        ),
        Some(Mode::Svc) => {
            detail!("entry: Secure SVC; will switch to Non-secure HYP through a monitor vector");
            EntryMode::SecureSvc
        }
        _ => stop_early(
            info,
            format_args!(
                "entered in {} mode (CPSR.M {:#x}); hypfw must be entered in HYP or Secure SVC mode",
                arch::mode_name(mode),
                mode & Mode::MASK
            ),
        ),
    }
}

/// QEMU's ELF loader leaves r2 = 0 but puts its DTB at the start of RAM when the image leaves room.
const QEMU_VIRT_RAM: u64 = 0x4000_0000;

/// What the boot phase learnt from the device tree.
pub struct Discovered {
    pub platform: Platform,
    pub options: Options,
    /// The bootloader's initrd (/chosen), a range in use.
    pub initrd: Option<MemRange>,
    /// Where the blob lies (empty without one): nothing may be placed over it while it is read.
    pub dtb_range: MemRange,
    pub dtb_blob: Option<&'static [u8]>,
}

/// The boot options are known: set the log's level (the step-by-step log with `hypfw.verbose`, and
/// by default in test builds (semihosting: QEMU and the suite) unless `hypfw.quiet`; otherwise the
/// short summary), then say what the bootloader handed over. Until now detail lines were kept in
/// case the log is verbose (and formatted for nothing when it is not); from here on a short log
/// skips them before any formatting, so this happens as soon as the options are read.
fn options_known(info: &EarlyInfo, o: &Options) {
    console::set_verbose(o.verbose || (cfg!(feature = "semihosting") && !o.quiet));
    report_handover(info);
    if o.ignored > 0 {
        log!(
            "options: {} hypfw.* word(s) ignored, the first `{}` (hypfw.{})",
            o.ignored,
            o.first_ignored(),
            hypfw_core::platform::options::KNOWN
        );
    }
}

/// Check and read the device tree at `at`: its used size, the FDT_NOP tokens removed, and what it
/// describes. The 40 header bytes are read first, and only the used blocks' bytes (bounded by
/// dtb::MAX_SIZE) once the magic checked; byte loads (the target has strict alignment), with the
/// structure block's tokens read as aligned words where the blob is 4-byte aligned. The blob is
/// tidied in place: its free space dropped from `totalsize`, and any NOPs removed. A tree that
/// cannot be read goes to `corrupt`, which does not return (the description is returned bare, not
/// in a `Result`, which would copy it once more: about 250 instructions).
///
/// # Safety
/// `at` is memory (the boot phase, MMU off) that the caller may read and rewrite in place.
unsafe fn read_tree(at: u64, corrupt: impl Fn(dtb::DtbError) -> Infallible) -> (usize, usize, Description) {
    // SAFETY: the caller's obligation; the header's 40 bytes.
    let header = unsafe { core::slice::from_raw_parts(at as *const u8, dtb::HEADER_LEN) };
    let used = dtb::header_total_size(header).unwrap_or_else(|e| match corrupt(e) {});
    // SAFETY: as above, for the `used` bytes the checked header gives.
    let view = unsafe { core::slice::from_raw_parts(at as *const u8, used) };
    let st = dtb::struct_block(view).unwrap_or_else(|e| match corrupt(e) {});
    // The Devicetree Specification asks for 8-byte alignment; the header check made the structure
    // block's offset a multiple of 4.
    let words: &[u32] = if at.is_multiple_of(4) {
        // SAFETY: `st` lies inside the `used` bytes (checked by struct_block), starts 4-byte
        // aligned (at and its offset are), and is read only, like `view`, while both exist.
        unsafe { core::slice::from_raw_parts((at as usize + st.start) as *const u32, st.len() / 4) }
    } else {
        &[]
    };
    // Matched whole: unwrapping the result first would copy the description once more.
    match dtb::check_and_describe(view, words) {
        Ok(Checked::Ready(d)) => {
            // SAFETY: the header's 40 bytes, which `view` and `words` (no longer used) only read;
            // the free space after the blocks leaves `totalsize`, as tidying would drop it.
            dtb::shrink_total_size(unsafe { core::slice::from_raw_parts_mut(at as *mut u8, dtb::HEADER_LEN) }, used);
            (used, 0, d)
        }
        Ok(Checked::NeedsTidy) => {
            // SAFETY: as above; `view` and `words` are not used any more, so this is the only
            // reference to the blob while it is tidied in place.
            let blob = unsafe { core::slice::from_raw_parts_mut(at as *mut u8, used) };
            dtb::tidy_and_describe(blob).unwrap_or_else(|e| match corrupt(e) {})
        }
        #[allow(unreachable_code)] // `corrupt`'s result is uninhabited: the match ends the arm
        Err(e) => match corrupt(e) {},
    }
}

/// Find the device tree (r2, or QEMU's ELF convention), validate and read it.
pub fn platform(info: &EarlyInfo) -> Discovered {
    let (at, how) = if info.r2 != 0 {
        (info.r2 as u64, "r2")
    } else if (QEMU_VIRT_RAM..0x8000_0000).contains(&(info.load_addr as u64))
        // SAFETY: the load address lies in QEMU virt's RAM, which starts at QEMU_VIRT_RAM: the
        // word there is RAM, and reading it has no side effect.
        && unsafe { core::ptr::read_volatile(QEMU_VIRT_RAM as *const u32) } == dtb::FDT_MAGIC.to_be()
    {
        (QEMU_VIRT_RAM, "the start of RAM (QEMU ELF boot, r2 = 0)")
    } else {
        log!(
            "platform: no device tree (r2 = 0): assuming QEMU virt's layout (128 MiB RAM at 0x40000000, PL011 at 0x09000000, GICv2)"
        );
        options_known(info, &Options::default());
        return Discovered {
            platform: Platform::qemu_virt_fallback(),
            options: Options::default(),
            initrd: None,
            dtb_range: MemRange::default(),
            dtb_blob: None,
        };
    };
    // SAFETY: the bootloader passed this address as the DTB (boot protocol), and the blob is the
    // firmware's to use until the payload runs: nothing else writes it during the boot phase
    // (every copy avoids it).
    let (total, nops, Description { platform, options, initrd }) = unsafe {
        read_tree(at, |e| stop_early(info, format_args!("the device tree at {at:#x} (from {how}) is corrupt: {e}")))
    };
    options_known(info, &options);
    // SAFETY: as above: the blob's first `total` bytes, read only from here on.
    let blob = unsafe { core::slice::from_raw_parts(at as *const u8, total) };
    let blob: &'static [u8] = blob;
    if nops > 0 {
        detail!("platform: removed {nops} FDT_NOP token(s) from the device tree (left by the bootloader's edits)");
    }
    detail!("platform: device tree at {at:#x} from {how}, {total} bytes");
    if platform.ram().is_empty() {
        fatal!(
            "the device tree at {at:#x} has no usable /memory (a memory node whose reg has a size): the bootloader \
             must fill it in, as U-Boot does before it starts a kernel"
        );
    }
    if let Some(i) = initrd {
        detail!("platform: the bootloader's initrd (/chosen) at {:#x}..{:#x}", i.base, i.end());
    }
    Discovered { platform, options, initrd, dtb_range: MemRange { base: at, size: total as u64 }, dtb_blob: Some(blob) }
}

/// Switch to the device tree's console `c` where something answers at its status register (the
/// kept lines go out on it); otherwise say so and go on without one.
fn switch_console(c: &dtb::Console, kind: &str) {
    if let Some((off, width)) = hypfw_uart::status_register(c.kind).filter(|_| c.base < 1 << 32) {
        // SAFETY: the boot phase with its own vectors, MMU off; a status register's read changes
        // nothing that matters.
        if unsafe { arch::probe_read((c.base + off as u64) as usize, width) } {
            // SAFETY: the boot phase: one CPU, MMU off; the device tree names the UART's physical
            // address, which nothing else drives.
            unsafe { console::install(c.kind, c.base as usize) };
        } else {
            log!("platform: console {kind} at {:#x}: nothing answers there; going on without a console", c.base);
            console::give_up();
            console::kept_lines_to_host();
        }
    }
}

/// Say what was found, and switch to the device tree's console.
pub fn report_platform(p: &Platform) {
    for (i, r) in p.ram().iter().enumerate() {
        detail!("platform: RAM bank {i}: {:#x}..{:#x} ({} MiB)", r.base, r.end(), r.size >> 20);
    }
    for r in p.reserved() {
        detail!("platform: reserved by the platform (/memreserve/, /reserved-memory): {:#x}..{:#x}", r.base, r.end());
    }
    match p.console {
        Some(c) => {
            let kind = match c.kind {
                UartKind::Pl011 => "PL011",
                UartKind::Ns16550 { .. } => "8250/16550",
                UartKind::Samsung { .. } => "Samsung",
                UartKind::Stm32 => "STM32",
                UartKind::Imx => "i.MX",
                UartKind::Unsupported => "unsupported UART (no output after boot)",
            };
            detail!("platform: console {kind} at {:#x} ({})", c.base, c.compatible().unwrap_or("compatible unknown"));
            switch_console(&c, kind);
        }
        None => log!("platform: no console UART found in the device tree"),
    }
    match p.gic {
        Some(g) => detail!(
            "platform: GIC distributor {:#x}, CPU interface {:#x}, virtual interface control {:#x}, virtual CPU interface {:#x}",
            g.dist.0,
            g.cpu.0,
            g.hyp.map_or(0, |h| h.0),
            g.vcpu.map_or(0, |v| v.0)
        ),
        None => log!("platform: no GICv2 in the device tree"),
    }
    log!(
        "platform: {} CPU(s) (MPIDR {}){}, PSCI {}",
        p.ncpus,
        MpidrList(p),
        if p.cpus_ignored > 0 { " more CPUs ignored" } else { "" },
        match p.psci {
            Some(PsciMethod::Smc) => "by SMC",
            Some(PsciMethod::Hvc) => "by HVC",
            None => "none",
        }
    );
    if p.reserved_ignored > 0 {
        fatal!("platform: {} reserved range(s) past the {} hypfw reads", p.reserved_ignored, dtb::MAX_RESERVED);
    }
    if p.ram_ignored > 0 {
        fatal!(
            "platform: {} /memory range(s) past the {} banks and {} nodes hypfw reads",
            p.ram_ignored,
            dtb::MAX_RAM,
            dtb::MAX_MEMORY_NODES
        );
    }
}

struct MpidrList<'a>(&'a Platform);
impl core::fmt::Display for MpidrList<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("[")?;
        for (i, c) in self.0.cpus().iter().enumerate() {
            write!(f, "{}{:#x}", if i > 0 { ", " } else { "" }, c.mpidr)?;
        }
        f.write_str("]")
    }
}
