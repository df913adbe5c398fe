//! The boot phase: runs once, on the boot CPU, at the physical address the image was loaded at,
//! with the MMU off. Its steps, each a module:
//! 1. [`discover`]: the entry mode, the CPU, the platform from the device tree;
//! 2. [`relocate`]: the reserved region, and the image copied there and relocated for the runtime VA;
//! 3. [`secure`]: from Secure SVC to Non-secure HYP, when hypfw was entered there;
//! 4. [`payload`]: the payload placed, its device tree written, its stage 2 built;
//! 5. [`tables`]: the boot and runtime HYP page tables;
//! 6. [`handover`]: what the init page and the runtime need, written into the copy; then the init
//!    page.
//!
//! Nothing here is used after that: the payload may later reuse the memory of this copy. The boot
//! phase writes `crate::shared` (in the copy) and never imports the runtime.

mod discover;
mod fault;
mod handover;
mod payload;
mod relocate;
mod secure;
mod stack;
mod tables;

use crate::arch;
use crate::shared::{BootInfo, CpuControl, EntryMode};
use crate::{detail, fatal, log};
use hypfw_core::abi::EarlyInfo;
use hypfw_core::abi::reloc::RelocError;
use hypfw_core::mm::addr::{PAGE_SIZE, PhysAddr};
use hypfw_core::mm::layout::{self, Device, MemRange, RUNTIME_VA, ReservedLayout};
use hypfw_core::payload::pack::Pack;
use hypfw_core::payload::rewrite::PsciNode;
use hypfw_core::payload::zimage;
use hypfw_core::platform::dtb::{MAX_RESERVED, Platform, PsciMethod};
use hypfw_core::platform::smp::CpuMap;
use hypfw_core::services::release;

#[unsafe(no_mangle)]
extern "C" fn boot_main(info: &EarlyInfo) -> ! {
    stack::paint();
    discover::report_entry(info);
    check_image(info);
    let entry_mode = discover::check_mode(info);
    // Sets the log's level as soon as the boot options are read (`discover::options_known`).
    let found = discover::platform(info);
    let platform = found.platform;
    discover::report_platform(&platform);

    let cpus = CpuMap::new(platform.cpus(), arch::mpidr());
    // CPUs parked at the entry (Secure SVC entry starts them all) wait in the first page of the
    // image as loaded until release_parked: where the image moved away from it, nothing may be
    // placed there either.
    let pen = if entry_mode == EntryMode::SecureSvc && info.loaded_at != info.load_addr {
        let at = info.loaded_at as u64 & !(PAGE_SIZE - 1);
        MemRange { base: at, size: 2 * PAGE_SIZE }
    } else {
        MemRange::default()
    };
    let Reserved { layout, pack, busy, region, init_page, image, devices: (devices, ndev) } =
        reserve(&platform, found.dtb_range, found.initrd, pen, &cpus);
    // The resident copy is made in the payload's cached window when there is one (a payload, and
    // entry in HYP: the window is a HYP translation regime); otherwise now, with the MMU off.
    let copy_in_window = pack.is_some() && entry_mode == EntryMode::NsHyp;
    let copy = if copy_in_window {
        relocate::Copy::new(&image, region)
    } else {
        // SAFETY: the region is RAM that nothing else uses (chosen clear of the loaded file and
        // the DTB); the boot phase runs alone with the MMU off.
        let copy = unsafe { relocate::copy_uncached(&image, region, &layout) };
        detail!(
            "relocation: image copied to {} and relocated for HYP VA {:#010x}, with the MMU off",
            region,
            RUNTIME_VA
        );
        handover::write_fault_record(&copy, &platform, None, init_page);
        copy
    };

    if entry_mode == EntryMode::SecureSvc {
        // SAFETY: check_mode found Secure SVC, and entry.S switched the MMU off; the copy is
        // complete and relocated.
        unsafe { secure::leave(&platform, &copy) };
    }

    let cpu_control = cpu_control(entry_mode, &platform, &cpus);
    let devices = &devices[..ndev];
    let device_vas = layout::device_vas(devices);
    let va_of = |name| devices.iter().zip(device_vas).find(|(d, _)| d.name == name).and_then(|(_, va)| va);
    let (fw_cfg_va, release_va) = (va_of(tables::FW_CFG), va_of(tables::CPU_RELEASE));
    let mut pool = tables::Pool::new(region, &layout);
    let payload = pack.map(|pk| {
        let reserved = MemRange { base: region.0, size: layout.size() };
        // SMC where the CPU has the Security Extensions (hypfw entered Secure); elsewhere it is
        // undefined (QEMU's models without EL3), and HVC works on every CPU with HYP.
        let method = if entry_mode == EntryMode::SecureSvc { PsciMethod::Smc } else { PsciMethod::Hvc };
        let psci = match cpu_control {
            CpuControl::Pen => PsciNode::Provide { method, starts_cpus: true },
            CpuControl::None => PsciNode::Provide { method: PsciMethod::Hvc, starts_cpus: false },
            CpuControl::Psci => PsciNode::Keep,
        };
        let image = copy_in_window.then_some((&image, &layout));
        let mut info = payload::prepare(&platform, &pk, reserved, &busy, found.dtb_blob, psci, image, &mut pool);
        info.fw_cfg = payload::fw_cfg(&platform, &info, fw_cfg_va);
        info.cpu_release = payload::cpu_release(&platform, release_va);
        info
    });
    if copy_in_window {
        handover::write_fault_record(&copy, &platform, None, init_page);
    }
    let (boot_pgd, runtime_pgd) =
        tables::build_hyp(region, &layout, devices, platform.ram(), &mut pool, found.options.verbose);
    handover::write_fault_record(&copy, &platform, Some(boot_pgd), init_page);
    stack::paint_runtime(region, &layout);
    if cpu_control == CpuControl::Psci {
        for (i, &mpidr) in cpus.mpidr[..cpus.count].iter().enumerate().skip(1) {
            if !arch::psci::knows(mpidr) {
                log!(
                    "smp: cpu{i} (MPIDR {mpidr:#x}) is in the device tree, but the platform's PSCI knows no such CPU \
                     (AFFINITY_INFO: INVALID_PARAMETERS); starting it will fail"
                );
            }
        }
    }
    if cpus.boot_not_listed {
        log!("smp: the boot CPU (MPIDR {:#x}) is not in the device tree's /cpus", arch::mpidr());
    }
    if cpu_control == CpuControl::None && cpus.count > 1 {
        log!(
            "smp: cpu1..cpu{} (MPIDR {:#x}..) cannot be started: {}; only the boot CPU runs, and the payload is told \
             CPU_ON is not supported",
            cpus.count - 1,
            cpus.mpidr[1],
            if entry_mode == EntryMode::SecureSvc {
                "the GIC has one CPU interface, so the machine has no other CPU"
            } else if platform.psci.is_some() {
                "the device tree's PSCI is by HVC, which HYP cannot use"
            } else {
                "the device tree has no /psci (on boards whose U-Boot provides PSCI, it adds one)"
            }
        );
    }
    if crate::drivers::console::muted() {
        report_muted_console(&platform);
    }
    // No console for the runtime when the boot phase's stopped taking bytes (console::muted).
    let console_va = device_vas[0]
        .map(|v| v.0)
        .filter(|_| platform.console.is_some() && !crate::drivers::console::muted())
        .unwrap_or(0);
    let boot_info = BootInfo {
        platform,
        options: found.options,
        region_pa: region.0,
        layout,
        console_va,
        boot_pgd: boot_pgd.0,
        runtime_pgd: runtime_pgd.0,
        entry_mode,
        entry_time: (info.cntpct[1] as u64) << 32 | info.cntpct[0] as u64,
        load_addr: info.load_addr,
        pool_pages_used: pool.pages_used(),
        cntfrq: arch::cntfrq(),
        cpus,
        cpu_control,
        init_page_pa: init_page.0,
        payload,
    };
    handover::write(&copy, handover::Handover { boot_pgd, runtime_pgd, layout, cpus, info: boot_info });
    handover::release_parked(&copy, info.loaded_at, &cpus, cpu_control, &platform, entry_mode == EntryMode::SecureSvc);
    handover::enter_init_page(&copy, &platform)
}

/// The console's UART stopped taking bytes during the boot phase and was given up: say so where
/// it can still be read (the kept lines, which a test host gets; a debugger's view of memory).
#[cold]
fn report_muted_console(platform: &Platform) {
    let base = platform.console.map_or(0, |c| c.base);
    // The lines since the UART was given up first (the buffer may be full), then this one (the
    // probe's failure said so when it happened).
    crate::drivers::console::kept_lines_to_host();
    if !crate::drivers::console::no_answer() {
        log!(
            "console: the UART at {base:#x} made no room for a byte in {} status reads; going on without a console",
            hypfw_uart::ROOM_WAIT_POLLS
        );
        crate::drivers::console::kept_lines_to_host();
    }
}

/// Ranges nothing may be placed over (see `reserve`).
pub const BUSY: usize = 4 + MAX_RESERVED;
// The cached window avoids all of them and hypfw's region.
const _: () = assert!(BUSY < hypfw_core::mm::window::MAX_AVOID);

/// The outcome of step 2: where hypfw lives from now on, and what must survive until the copy is
/// complete (the copy itself is made by the caller).
struct Reserved {
    layout: ReservedLayout,
    pack: Option<Pack<'static>>,
    /// The loaded file (image and pack), the DTB, the entry pen, the bootloader's initrd and the
    /// platform's reservations: nothing may be placed over them.
    busy: [MemRange; BUSY],
    region: PhysAddr,
    init_page: PhysAddr,
    image: relocate::Image,
    /// The devices the runtime maps (`tables::devices`), and how many.
    devices: ([Device; layout::MAX_DEVICES], usize),
}

/// Find the payload pack, and size and choose the reserved region.
fn reserve(
    platform: &Platform,
    dtb_range: MemRange,
    initrd: Option<MemRange>,
    pen: MemRange,
    cpus: &CpuMap,
) -> Reserved {
    let image = relocate::Image::this();
    // SAFETY: the zImage header's size word, in the first page of the loaded image (boot/entry.S).
    let file_size = unsafe { core::ptr::read_volatile((image.start + zimage::END_OFFSET) as *const u32) };
    let pack = payload::find_pack(image.start, image.layout.image_end, file_size as u64);
    let loaded =
        MemRange { base: image.start as u64, size: image.layout.image_end + pack.map_or(0, |p| p.total_len as u64) };
    match &pack {
        Some(p) => detail!("payload: pack of {} bytes after the image", p.total_len),
        None => log!("payload: none in the image; the runtime runs its own self-test"),
    }
    let Some(&first_bank) = platform.ram().first() else { fatal!("no RAM bank in the platform description") };
    // What nothing may be placed over: the loaded file, the device tree, the parked CPUs' pen
    // page, and what the platform reserves for itself (/memreserve/, /reserved-memory).
    let mut busy = [MemRange::default(); BUSY];
    busy[0] = loaded;
    busy[1] = dtb_range;
    busy[2] = pen;
    // The bootloader's initrd (named in /chosen; U-Boot also lists it in /memreserve/, QEMU's
    // -initrd does not): the payload gets it when the pack has none, so nothing goes over it.
    busy[3] = initrd.unwrap_or_default();
    busy[4..4 + platform.nreserved].copy_from_slice(platform.reserved());
    let (devices, ndev) = tables::devices(platform, pack.is_some());
    let device_holes = payload::device_holes(platform);
    let inputs = layout::RegionInputs {
        ncpus: cpus.count,
        first_bank,
        ram: platform.ram(),
        avoid: &busy,
        devices: &devices[..ndev],
        payload_holes: pack.map(|_| &device_holes[..]),
    };
    let (region, layout) = layout::plan_region(image.layout, &inputs).unwrap_or_else(|e| fatal!("{e}"));
    // The sizes as u32 (the region is at most layout::RESERVED_LIMIT bytes): a u64 is printed in
    // decimal through software division.
    log!(
        "memory: hypfw's region {}..{:#010x}, {} bytes withheld from the payload: image {} bytes, page tables {} \
         pages, stacks {} x {} bytes",
        region,
        region.0 + layout.size(),
        layout.size() as u32,
        layout.image.resident_len() as u32,
        layout.pool_pages as u32,
        layout.ncpus,
        layout::STACK_SIZE as u32
    );
    if region.0 < first_bank.base || region.0 >= first_bank.end() {
        detail!("relocation: no room in the first RAM bank: the region is at {}, in a later bank", region);
    } else if region.0 + layout.size() <= RUNTIME_VA as u64 {
        detail!("relocation: the region is the top of the first RAM bank below {:#x}", RUNTIME_VA);
    } else {
        detail!(
            "relocation: the first RAM bank has no room below {:#x}: the region is its highest free place below 4 GiB \
             outside the runtime's HYP VAs",
            RUNTIME_VA
        );
    }
    let init_page = region.add(layout.init_page_off());
    layout::check_identity_collision(init_page).unwrap_or_else(|e| fatal!("{e}"));
    Reserved { layout, pack, busy, region, init_page, image, devices: (devices, ndev) }
}

/// What entry.S could not say itself: no relocation table, or a load address that is not
/// page aligned.
fn check_image(info: &EarlyInfo) {
    if info.reloc_missing != 0 {
        discover::stop_early(info, format_args!("{}", RelocError::Missing));
    }
    if !(info.load_addr as u64).is_multiple_of(PAGE_SIZE) {
        discover::stop_early(
            info,
            format_args!(
                "load address {:#010x} is not 4 KiB aligned; load hypfw at a page-aligned address",
                info.load_addr
            ),
        );
    }
}

/// How secondary CPUs will be started.
fn cpu_control(entry_mode: EntryMode, p: &Platform, cpus: &CpuMap) -> CpuControl {
    match (entry_mode, p.psci) {
        // QEMU's vexpress-a15 at its default of one CPU, with the board's tree of two: no CPU
        // to wait for in the pen.
        (EntryMode::SecureSvc, _) if cpus.count > 1 && gic_cpu_interfaces(p) == Some(1) => CpuControl::None,
        (EntryMode::SecureSvc, _) => CpuControl::Pen,
        (EntryMode::NsHyp, Some(PsciMethod::Smc)) => CpuControl::Psci,
        (EntryMode::NsHyp, Some(PsciMethod::Hvc)) => {
            log!("smp: PSCI by HVC cannot be used from HYP itself; secondary CPUs stay off");
            CpuControl::None
        }
        (EntryMode::NsHyp, None) if starts_through_mailbox(p, cpus) => CpuControl::Pen,
        (EntryMode::NsHyp, None) => CpuControl::None,
    }
}

/// Without PSCI, can hypfw start the other CPUs itself, through the SoC's CPU release mailbox
/// (`services::release::start`)? Only where it knows the protocol, and where the GIC says there is
/// another CPU at all (GICD_TYPER's CPU interfaces: QEMU's models run with fewer CPUs than the
/// board's tree lists, and a CPU that does not exist would only be waited for).
fn starts_through_mailbox(p: &Platform, cpus: &CpuMap) -> bool {
    let Some(r) = p.cpu_release else { return false };
    cpus.count > 1 && release::start(&r, 0, 0).is_some() && gic_cpu_interfaces(p).is_some_and(|n| n > 1)
}

/// The CPU interfaces of the device tree's GIC (GICD_TYPER), where there is one below 4 GiB.
fn gic_cpu_interfaces(p: &Platform) -> Option<usize> {
    let g = p.gic.filter(|g| g.dist.0 < 1 << 32)?;
    // SAFETY: the distributor's PA from the device tree, below 4 GiB; the MMU is off.
    Some(release::gic_cpu_interfaces(unsafe { crate::drivers::gic::typer(g.dist.0 as usize) }))
}
