//! The boot phase: runs once, on the boot CPU, at the physical address the image was loaded at,
//! with the MMU off. It finds out where it is (mode, load address, device tree), takes the reserved
//! region, copies and relocates the image there for the runtime VA, drops from Secure SVC to
//! Non-secure HYP if it has to, builds the boot and runtime page tables, and enters the init page.
//! Nothing here is used after that: the payload may later reuse the memory of this copy.

use crate::arch::{self, cache::ArmCache};
use crate::runtime::init::{BOOT_INFO, BootInfo, CpuControl, EntryMode, HYP_INIT_PARAMS};
use crate::{fatal, log};
use hypfw::addr::{PAGE_SIZE, PhysAddr};
use hypfw::cache::{CacheMaintenance, clean_range_to_poc, sync_code_range};
use hypfw::cpuid::{IdPfr1, Midr};
use hypfw::dtb::{self, Platform, UartKind};
use hypfw::layout::{self, Device, ImageLayout, MemRange, RUNTIME_VA, ReservedLayout};
use hypfw::pgtable::{self, FrameAllocator, MapAttrs, TableBuilder, TableMemory};

pub const BOOT_STACK_SIZE: u32 = 32 * 1024;
/// Words at the bottom of the boot stack that must still hold the canary when the boot phase
/// ends: with the MMU off there is no guard page, and an overflow would silently corrupt .bss.
const CANARY_WORDS: usize = 16;
const CANARY: u32 = 0xB007_57AC;
pub const ENTRY_MMU_WAS_ON: u32 = 1 << 16;
pub const ENTRY_DCACHE_WAS_ON: u32 = 1 << 17;

/// HSCTLR for the runtime: RES1 bits of ARMv7 (0x30C50878), MMU, D- and I-cache, and WXN so that
/// no writable page can ever be executed.
pub const HSCTLR_RUNTIME: u32 = 0x30C5_0878 | 1 | (1 << 2) | (1 << 12) | (1 << 19);

/// Built by `boot/entry.S` on the boot stack (same field order).
#[repr(C)]
pub struct EarlyInfo {
    pub r0: u32,
    pub r1: u32,
    pub r2: u32,
    /// CPSR mode bits | ENTRY_* flags.
    pub mode_flags: u32,
    pub load_addr: u32,
    pub cntpct: [u32; 2],
    /// 1 if the image carries no relocation table.
    pub reloc_missing: u32,
    /// Where the bootloader put the image, before any self-move to a 64 KiB multiple: CPUs that
    /// entered with the boot CPU (Secure SVC) wait in that copy's entry pen.
    pub loaded_at: u32,
}

unsafe extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __data_end: u8;
    static __bss_start: u8;
    static __image_end: u8;
    static __init_page_start: u8;
    static __relocs_start: u32;
    static hypfw_runtime_vectors: u8;
    fn hyp_init_entry();
    fn hypfw_secure_to_ns_hyp(cntfrq: u32);
    fn hypfw_secure_secondary();
    static mut hypfw_secondary_pen: u32;
    static mut __boot_stack: [u32; CANARY_WORDS];
}

fn set_stack_canary() {
    let bottom = &raw mut __boot_stack as *mut u32;
    for i in 0..CANARY_WORDS {
        // SAFETY: the lowest words of the boot stack, far below the frames in use this early.
        unsafe { bottom.add(i).write_volatile(CANARY) };
    }
}

fn check_stack_canary(p: &Platform) {
    let bottom = &raw const __boot_stack as *const u32;
    // SAFETY: reading the words written by set_stack_canary.
    let intact = (0..CANARY_WORDS).all(|i| unsafe { bottom.add(i).read_volatile() } == CANARY);
    if !intact {
        // The console's own state may be what was overwritten: set it up again to say so.
        if let Some(c) = p.console.filter(|c| c.kind != UartKind::Unsupported) {
            // SAFETY: MMU off, one CPU; the UART's physical address from the device tree.
            unsafe { crate::console::install(c.kind, c.base as usize) };
        }
        fatal!(
            "the boot phase overflowed its {} KiB stack (the canary at its bottom was overwritten); .bss may be corrupt",
            BOOT_STACK_SIZE / 1024
        );
    }
}

fn addr_of<T>(r: &T) -> usize {
    r as *const T as usize
}

/// The early console, used before the device tree is read: QEMU virt's PL011 unless the build
/// says otherwise (`HYPFW_EARLY_UART=none` or `pl011@0xADDR` / `ns16550@0xADDR,SHIFT`).
fn early_uart() -> Option<(UartKind, usize)> {
    let spec = option_env!("HYPFW_EARLY_UART").unwrap_or("pl011@0x09000000");
    let (kind, rest) = spec.split_once('@')?;
    let (addr, shift) = rest.split_once(',').unwrap_or((rest, "0"));
    let addr = usize::from_str_radix(addr.trim_start_matches("0x"), 16).ok()?;
    let shift: u8 = shift.parse().ok()?;
    match kind {
        "pl011" => Some((UartKind::Pl011, addr)),
        "ns16550" => Some((UartKind::Ns16550 { reg_shift: shift, io_width: 1 }, addr)),
        _ => None,
    }
}

#[unsafe(no_mangle)]
extern "C" fn boot_main(info: &EarlyInfo) -> ! {
    set_stack_canary();
    if let Some((kind, base)) = early_uart() {
        // SAFETY: single CPU, MMU off: the build names the UART's physical address.
        unsafe { crate::console::install(kind, base) };
    }
    let mode = info.mode_flags & 0x1F;
    log!("hypfw {} (ARMv7 HYP firmware)", env!("CARGO_PKG_VERSION"));
    log!(
        "entry: {} mode, load address {:#010x}, r0={:#x} r1={:#x} r2={:#x}",
        arch::mode_name(mode),
        info.load_addr,
        info.r0,
        info.r1,
        info.r2
    );
    if info.mode_flags & (ENTRY_MMU_WAS_ON | ENTRY_DCACHE_WAS_ON) != 0 {
        log!(
            "entry: the bootloader left the MMU {} and the D-cache {}; cleaned and switched both off",
            if info.mode_flags & ENTRY_MMU_WAS_ON != 0 { "on" } else { "off" },
            if info.mode_flags & ENTRY_DCACHE_WAS_ON != 0 { "on" } else { "off" }
        );
    }
    if info.reloc_missing != 0 {
        fatal!("{}", hypfw::reloc::RelocError::Missing);
    }
    if !(info.load_addr as u64).is_multiple_of(PAGE_SIZE) {
        fatal!("load address {:#010x} is not 4 KiB aligned; load hypfw at a page-aligned address", info.load_addr);
    }
    let entry_mode = check_mode(mode);

    let (platform, dtb_range, dtb_blob) = discover_platform(info);
    report_platform(&platform);
    let mut cache = ArmCache;

    // ---- the reserved region, and the image copy relocated for the runtime VA ----
    // SAFETY: linker symbols, only their addresses are taken.
    let (img_start, image) = unsafe {
        let s = addr_of(&__image_start);
        (
            s,
            ImageLayout {
                text_end: (addr_of(&__text_end) - s) as u64,
                rodata_end: (addr_of(&__rodata_end) - s) as u64,
                image_end: (addr_of(&__image_end) - s) as u64,
                init_page: (addr_of(&__init_page_start) - s) as u64,
            },
        )
    };
    let layout = ReservedLayout::new(image).unwrap_or_else(|e| fatal!("{e}"));
    // SAFETY: the zImage header's size word, in the loaded image (see boot/entry.S).
    let file_size = unsafe { core::ptr::read_volatile((img_start + hypfw::zimage::END_OFFSET) as *const u32) };
    let pack = crate::prepare::find_pack(img_start, image.image_end, file_size as u64);
    let loaded = MemRange { base: img_start as u64, size: image.image_end + pack.map_or(0, |p| p.total_len as u64) };
    match &pack {
        Some(p) => log!("payload: pack of {} bytes after the image", p.total_len),
        None => log!("payload: none in the image; the runtime runs its own self-test"),
    }
    let Some(&first_bank) = platform.ram().first() else { fatal!("no RAM bank in the platform description") };
    let region = layout::choose_reserved_region(first_bank, &[loaded, dtb_range]).unwrap_or_else(|e| fatal!("{e}"));
    log!(
        "relocation: reserved region {}..{:#010x} (top of the first RAM bank below {:#x}), image {:#x} bytes",
        region,
        region.0 + layout::RESERVED_SIZE,
        RUNTIME_VA,
        image.image_end
    );
    let init_page = region.add(image.init_page);
    layout::check_identity_collision(init_page).unwrap_or_else(|e| fatal!("{e}"));
    // SAFETY: the region is RAM that nothing else uses (chosen above); the image is ours.
    unsafe { copy_and_relocate(img_start, region, &layout, &mut cache) };
    log!("relocation: image copied to {} and relocated for HYP VA {:#010x}", region, RUNTIME_VA);
    let in_copy = |sym: usize| region.0 as usize + (sym - img_start);

    let entry_mode = match entry_mode {
        EntryMode::SecureSvc => {
            // SAFETY: GIC addresses come from the platform; MMU off, Secure SVC.
            unsafe { leave_secure(&platform, in_copy(hypfw_secure_to_ns_hyp as *const () as usize)) };
            if arch::current_mode() != arch::MODE_HYP {
                fatal!(
                    "the switch from Secure SVC to Non-secure HYP did not arrive in HYP (mode {})",
                    arch::mode_name(arch::current_mode())
                );
            }
            log!(
                "entry: switched from Secure SVC to Non-secure HYP through the monitor at {:#010x}",
                in_copy(hypfw_secure_to_ns_hyp as *const () as usize)
            );
            EntryMode::SecureSvc
        }
        m => m,
    };

    // ---- page tables ----
    let mut devices = [Device { name: "", pa: 0, size: 0 }; layout::MAX_DEVICES];
    let mut ndev = 0;
    let mut add_dev = |name, r: Option<(u64, u64)>| {
        if let Some((pa, size)) = r {
            devices[ndev] = Device { name, pa, size: size.max(0x1000) };
            ndev += 1;
        }
    };
    add_dev("console", platform.console.map(|c| (c.base, c.size)));
    if let Some(g) = platform.gic {
        add_dev("GIC distributor", Some(g.dist));
        add_dev("GIC CPU interface", Some(g.cpu));
        add_dev("GIC virtual interface control", g.hyp);
        add_dev("GIC virtual CPU interface", g.vcpu);
    }
    let devices = &devices[..ndev];
    let mut pool = Pool { next: region.0 + layout.pool_off, end: region.0 + layout.heap_off };
    let payload = pack.map(|pk| {
        // SAFETY: the region's heap area is unused until the runtime starts; one CPU, MMU off.
        unsafe { crate::heap::HEAP.init_boot((region.0 + layout.heap_off) as usize, layout::HEAP_SIZE as usize) };
        let reserved = MemRange { base: region.0, size: layout::RESERVED_SIZE };
        crate::prepare::prepare(
            &platform,
            &pk,
            reserved,
            &[loaded, dtb_range],
            dtb_blob,
            entry_mode == EntryMode::SecureSvc,
            &mut pool,
            &mut PhysTables,
        )
    });
    let boot_pgd = build_tables(&layout::boot_plan(region, &layout), &mut pool, &mut cache);
    let runtime_plan = layout::runtime_plan(region, &layout, devices);
    let runtime_pgd = build_tables(&runtime_plan, &mut pool, &mut cache);
    let used = (pool.next - (region.0 + layout.pool_off)) / PAGE_SIZE;
    log!(
        "page tables: boot pgd at {} (init page {} at identity and at {:#010x}), runtime pgd at {} ({} of {} pool pages)",
        boot_pgd,
        init_page,
        layout::TRAMPOLINE_VA,
        runtime_pgd,
        used,
        layout::POOL_PAGES
    );
    for r in runtime_plan.iter() {
        log!(
            "  runtime map {:<30} VA {}..{:#010x} -> PA {} {}",
            r.name,
            r.va,
            r.va.0 as u64 + r.size,
            r.pa,
            attrs_name(r.attrs)
        );
    }

    // ---- CPUs ----
    let cpus = hypfw::smp::CpuMap::new(platform.cpus(), arch::mpidr());
    if cpus.boot_not_listed {
        log!("smp: the boot CPU (MPIDR {:#x}) is not in the device tree's /cpus", arch::mpidr());
    }
    let cpu_control = match (entry_mode, platform.psci) {
        (EntryMode::SecureSvc, _) => CpuControl::Pen,
        (EntryMode::NsHyp, Some(dtb::PsciMethod::Smc)) => CpuControl::Psci,
        (EntryMode::NsHyp, Some(dtb::PsciMethod::Hvc)) => {
            log!("smp: PSCI by HVC cannot be used from HYP itself; secondary CPUs stay off");
            CpuControl::None
        }
        (EntryMode::NsHyp, None) => CpuControl::None,
    };

    // ---- hand-over to the copy: init parameters and boot information ----
    let dev_vas = layout::device_vas(devices);
    let va_of = |sym: usize| (RUNTIME_VA as usize + (sym - img_start)) as u32;
    // SAFETY: the copy's statics are at these physical addresses; the runtime does not run yet.
    unsafe {
        let p = &mut *(in_copy(&raw const HYP_INIT_PARAMS as usize) as *mut crate::runtime::init::InitParams);
        p.boot_httbr = boot_pgd.to_reg_pair();
        p.runtime_httbr = runtime_pgd.to_reg_pair();
        p.htcr = pgtable::HTCR;
        p.hmair0 = pgtable::HMAIR0;
        p.hmair1 = pgtable::HMAIR1;
        p.hsctlr = HSCTLR_RUNTIME;
        p.vectors_va = va_of(addr_of(&hypfw_runtime_vectors));
        p.entry_va = va_of(crate::runtime::hypfw_runtime_entry as *const () as usize);
        for cpu in 0..layout::MAX_CPUS {
            p.stack_top_va[cpu] = layout.stack_top(cpu).0;
            p.percpu_va[cpu] = va_of(crate::runtime::percpu_addr(cpu));
        }
        p.ncpus = cpus.count as u32;
        p.mpidr = cpus.mpidr;
        p.gicd = platform.gic.map_or(0, |g| g.dist.0 as u32);
        p.gicc = platform.gic.map_or(0, |g| g.cpu.0 as u32);
        p.cntfrq = platform.timer_freq.unwrap_or(0);
        let bi = &mut *(in_copy(&raw const BOOT_INFO as usize) as *mut Option<BootInfo>);
        *bi = Some(BootInfo {
            platform,
            region_pa: region.0,
            layout,
            console_va: dev_vas[0].map(|v| v.0).filter(|_| platform.console.is_some()).unwrap_or(0),
            boot_pgd: boot_pgd.0,
            runtime_pgd: runtime_pgd.0,
            entry_mode,
            entry_time: (info.cntpct[1] as u64) << 32 | info.cntpct[0] as u64,
            load_addr: info.load_addr,
            pool_pages_used: used,
            cntfrq: arch::cntfrq(),
            cpus,
            cpu_control,
            init_page_pa: init_page.0,
            payload,
        });
        let lo = in_copy(&raw const HYP_INIT_PARAMS as usize) as u64;
        clean_range_to_poc(
            &mut cache,
            lo,
            core::mem::size_of::<crate::runtime::init::InitParams>() as u64,
            arch::cache::dcache_line(),
        );
        let lo = in_copy(&raw const BOOT_INFO as usize) as u64;
        clean_range_to_poc(&mut cache, lo, core::mem::size_of::<Option<BootInfo>>() as u64, arch::cache::dcache_line());
    }
    if cpu_control == CpuControl::Pen && cpus.count > 1 {
        // The other CPUs wait in entry.S's pen in the copy as loaded (which the boot CPU may have
        // moved away from since): send them to the resident copy, where each switches to
        // Non-secure HYP and parks in the runtime's pen.
        let pen = info.loaded_at as usize + ((&raw const hypfw_secondary_pen) as usize - img_start);
        // SAFETY: the pen word in the first page of the image as loaded, which no move overwrote;
        // MMU off, so the store reaches memory; SEV wakes them.
        unsafe {
            core::ptr::write_volatile(pen as *mut u32, in_copy(hypfw_secure_secondary as *const () as usize) as u32)
        };
        arch::sev();
        log!("smp: {} secondary CPU(s) released from the entry pen to the resident pen", cpus.count - 1);
    }
    check_stack_canary(&platform);
    let entry = in_copy(hyp_init_entry as *const () as usize);
    log!("cpu0 entering the init page at {:#010x}", entry);
    // SAFETY: the init page of the relocated copy, position independent, runs with the MMU off.
    unsafe { arch::jump(entry, 0) }
}

fn attrs_name(a: MapAttrs) -> &'static str {
    match (a.mem, a.writable, a.executable) {
        (pgtable::MemType::Device, _, _) => "device RW XN",
        (_, false, true) => "RX",
        (_, false, false) => "R XN",
        (_, true, false) => "RW XN",
        (_, true, true) => "RWX",
    }
}

/// Decide from the entry mode whether and how HYP can be reached; stop with the reason if not.
fn check_mode(mode: u32) -> EntryMode {
    let pfr1 = IdPfr1(arch::id_pfr1());
    let midr = arch::midr();
    log!("cpu: {} (MIDR {midr:#010x}); {pfr1}", Midr(midr));
    let pfr1_raw = pfr1.0;
    match mode {
        arch::MODE_HYP => EntryMode::NsHyp,
        arch::MODE_SVC if !pfr1.virtualization() => fatal!(
            "entered in SVC mode on a CPU without the Virtualization Extensions (ID_PFR1 {pfr1_raw:#010x}, \
             Virtualization field 0): hypfw needs HYP mode (QEMU: -M virt,virtualization=on -cpu cortex-a15)"
        ),
        arch::MODE_SVC if !pfr1.security() || !arch::probe_secure_svc() => fatal!(
            "entered in Non-secure SVC mode: HYP cannot be reached from there. Enter hypfw in HYP mode \
             (U-Boot: bootm_boot_mode=nonsec; QEMU: -M virt,virtualization=on) or in Secure SVC"
        ),
        arch::MODE_SVC => {
            log!("entry: Secure SVC; will switch to Non-secure HYP through a monitor vector");
            EntryMode::SecureSvc
        }
        m => fatal!(
            "entered in {} mode (CPSR.M {m:#x}); hypfw must be entered in HYP or Secure SVC mode",
            arch::mode_name(m)
        ),
    }
}

/// QEMU's ELF loader leaves r2 = 0 but puts its DTB at the start of RAM when the image leaves room.
const QEMU_VIRT_RAM: u64 = 0x4000_0000;

fn discover_platform(info: &EarlyInfo) -> (Platform, MemRange, Option<&'static [u8]>) {
    let (at, how) = if info.r2 != 0 {
        (info.r2 as u64, "r2")
    } else if (QEMU_VIRT_RAM..0x8000_0000).contains(&(info.load_addr as u64))
        // SAFETY: RAM on QEMU virt, where this image itself was loaded.
        && unsafe { core::ptr::read_volatile(QEMU_VIRT_RAM as *const u32) } == dtb::FDT_MAGIC.to_be()
    {
        (QEMU_VIRT_RAM, "the start of RAM (QEMU ELF boot, r2 = 0)")
    } else {
        log!(
            "platform: no device tree (r2 = 0): assuming QEMU virt's layout (128 MiB RAM at 0x40000000, PL011 at 0x09000000, GICv2)"
        );
        return (Platform::qemu_virt_fallback(), MemRange::default(), None);
    };
    if at % 8 != 0 {
        fatal!(
            "device tree pointer {at:#x} from {how} is not 8-byte aligned: not a DTB (the Linux boot protocol passes it in r2)"
        );
    }
    // SAFETY: the bootloader passed this address as the DTB; 40 header bytes are read first and
    // only `totalsize` bytes (bounded by dtb::MAX_SIZE) after the magic has been checked.
    let header = unsafe { core::slice::from_raw_parts(at as *const u8, 40) };
    let total = dtb::header_total_size(header)
        .unwrap_or_else(|e| fatal!("the device tree at {at:#x} (from {how}) is corrupt: {e}"));
    // SAFETY: as above.
    let blob = unsafe { core::slice::from_raw_parts(at as *const u8, total) };
    let p = dtb::parse(blob).unwrap_or_else(|e| fatal!("the device tree at {at:#x} (from {how}) is corrupt: {e}"));
    log!("platform: device tree at {at:#x} from {how}, {total} bytes");
    (p, MemRange { base: at, size: total as u64 }, Some(blob))
}

fn report_platform(p: &Platform) {
    for (i, r) in p.ram().iter().enumerate() {
        log!("platform: RAM bank {i}: {:#x}..{:#x} ({} MiB)", r.base, r.end(), r.size >> 20);
    }
    match p.console {
        Some(c) => {
            let kind = match c.kind {
                UartKind::Pl011 => "PL011",
                UartKind::Ns16550 { .. } => "8250/16550",
                UartKind::Unsupported => "unsupported UART (no output after boot)",
            };
            log!("platform: console {kind} at {:#x}", c.base);
            if c.kind != UartKind::Unsupported {
                // SAFETY: MMU off, the DTB names the UART's physical address; single CPU.
                unsafe { crate::console::install(c.kind, c.base as usize) };
            }
        }
        None => log!("platform: no console UART found in the device tree"),
    }
    match p.gic {
        Some(g) => log!(
            "platform: GIC distributor {:#x}, CPU interface {:#x}, virtual interface control {:#x}, virtual CPU interface {:#x}",
            g.dist.0,
            g.cpu.0,
            g.hyp.map_or(0, |h| h.0),
            g.vcpu.map_or(0, |v| v.0)
        ),
        None => log!("platform: no GICv2 in the device tree"),
    }
    log!(
        "platform: {} CPU(s) (MPIDR {:?}){}, PSCI {}",
        p.ncpus,
        MpidrList(p),
        if p.cpus_ignored > 0 { " more CPUs ignored" } else { "" },
        match p.psci {
            Some(dtb::PsciMethod::Smc) => "by SMC",
            Some(dtb::PsciMethod::Hvc) => "by HVC",
            None => "none",
        }
    );
}

struct MpidrList<'a>(&'a Platform);
impl core::fmt::Debug for MpidrList<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.0.cpus().iter().map(|c| Hex(c.mpidr))).finish()
    }
}
struct Hex(u32);
impl core::fmt::Debug for Hex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Copy the image (text..data) into the region, zero the copy's .bss, and relocate the copy for
/// the runtime VA; then make the new code visible to instruction fetch.
///
/// # Safety
/// `region` must be RAM of at least `layout.end_off` bytes that nothing else uses.
unsafe fn copy_and_relocate(img_start: usize, region: PhysAddr, layout: &ReservedLayout, cache: &mut ArmCache) {
    // SAFETY: linker symbols; the slices cover this image and the caller's region.
    unsafe {
        let file_len = addr_of(&__data_end) - img_start;
        let bss_off = addr_of(&__bss_start) - img_start;
        let dst = region.0 as usize as *mut u8;
        core::ptr::copy_nonoverlapping(img_start as *const u8, dst, file_len);
        core::ptr::write_bytes(dst.add(bss_off), 0, layout.image.image_end as usize - bss_off);
        let words = core::slice::from_raw_parts(&raw const __relocs_start, hypfw::reloc::TABLE_BYTES / 4);
        let img = core::slice::from_raw_parts_mut(dst, layout.image.image_end as usize);
        let bias = RUNTIME_VA.wrapping_sub(img_start as u32);
        if let Err(e) = hypfw::reloc::parse(words).and_then(|t| hypfw::reloc::apply(img, &t, bias)) {
            fatal!("relocating the runtime copy: {e}");
        }
    }
    sync_code_range(cache, region.0, layout.image.image_end, arch::cache::dcache_line());
}

/// GIC interrupt groups and the monitor switch (Secure SVC -> Non-secure HYP).
///
/// # Safety
/// MMU off, Secure SVC; `switch` is the physical address of `hypfw_secure_to_ns_hyp` in the copy.
unsafe fn leave_secure(p: &Platform, switch: usize) {
    if let Some(g) = p.gic {
        // SAFETY: the GIC's physical addresses from the DTB, MMU off.
        unsafe {
            crate::gic::secure_init_distributor(g.dist.0 as usize);
            crate::gic::secure_init_cpu(g.dist.0 as usize, g.cpu.0 as usize);
        }
        log!("entry: GIC interrupts assigned to Group 1 (Non-secure)");
    }
    let freq = p.timer_freq.unwrap_or(0);
    if freq == 0 && arch::cntfrq() == 0 {
        log!(
            "entry: warning: CNTFRQ is 0 and the device tree's timer gives no clock-frequency; it can only be set \
             while Secure, so the payload will see no timer frequency"
        );
    }
    // SAFETY: the switch routine is position independent and returns in NS HYP on this stack.
    unsafe {
        let f: extern "C" fn(u32) = core::mem::transmute(switch);
        f(freq);
    }
}

/// The page pool in the reserved region, handed out with the MMU off (PA = pointer).
struct Pool {
    next: u64,
    end: u64,
}

impl FrameAllocator for Pool {
    fn alloc_zeroed_page(&mut self) -> Option<PhysAddr> {
        self.alloc_zeroed_pages(1)
    }
    fn alloc_zeroed_pages(&mut self, pages: u64) -> Option<PhysAddr> {
        let len = pages * PAGE_SIZE;
        let p = hypfw::addr::align_up(self.next, len);
        if p + len > self.end {
            return None;
        }
        // SAFETY: pool pages are in the reserved region, which only this code uses now.
        unsafe { core::ptr::write_bytes(p as usize as *mut u8, 0, len as usize) };
        self.next = p + len;
        Some(PhysAddr(p))
    }
}

/// Table memory with the MMU off: physical addresses are pointers.
struct PhysTables;

impl TableMemory for PhysTables {
    fn read_desc(&self, table: PhysAddr, index: usize) -> u64 {
        // SAFETY: tables come from the pool; index < 512.
        unsafe { core::ptr::read_volatile((table.0 as usize as *const u64).add(index)) }
    }
    fn write_desc(&mut self, table: PhysAddr, index: usize, value: u64) {
        // SAFETY: as above. A single 64-bit store (STRD), so a walker never sees half a descriptor.
        unsafe { core::ptr::write_volatile((table.0 as usize as *mut u64).add(index), value) }
    }
}

fn build_tables<C: CacheMaintenance>(plan: &layout::Plan, pool: &mut Pool, cache: &mut C) -> PhysAddr {
    let mut mem = PhysTables;
    let mut b = TableBuilder::new(pool, &mut mem, cache).unwrap_or_else(|e| fatal!("page tables: {e}"));
    for r in plan.iter() {
        b.map(r.va, r.pa, r.size, r.attrs).unwrap_or_else(|e| fatal!("page tables: {}: {e}", r.name));
    }
    b.publish()
}
