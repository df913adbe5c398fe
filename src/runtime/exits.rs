//! Running the payload: every CPU enters it in SVC under stage 2, and every exit comes back here.
//! HVCs go to the SMCCC dispatcher, trapped SMCs to the PSCI proxy, stage-2 aborts become external
//! aborts in the payload, anything else is reported and stops hypfw.

use super::access::Trapped;
use super::fwcfg;
use super::hotplug;
use super::this_cpu;
use super::world::{self, Pl1Context};
use crate::arch::{self, regs};
use crate::shared::{BootInfo, CpuControl, PERCPU, PayloadInfo};
use crate::{detail, fatal, log};
use core::sync::atomic::{AtomicU32, Ordering};
use hypfw_core::abi::bits::{HCR_PAYLOAD, Psr, SPSR_SVC_MASKED, Sctlr};
use hypfw_core::mm::addr::PAGE_SIZE;
use hypfw_core::mm::layout::MemRange;
use hypfw_core::mm::pgtable::VTCR_40BIT;
use hypfw_core::services::hsr::{self, Hsr};
use hypfw_core::services::psci::{self, Request};
use hypfw_core::services::{hvc, inject};

fn payload(bi: &BootInfo) -> &PayloadInfo {
    bi.payload.as_ref().unwrap_or_else(|| fatal!("no payload"))
}

/// Stage 2 and traps on this CPU; for a fresh entry (boot protocol, CPU_ON) also the payload's PL1
/// MMU and D-cache off. A CPU resumed after HYPFW_REINIT keeps the PL1 state it had.
fn enter_stage2(p: &PayloadInfo, fresh: bool) {
    // SAFETY: VTCR, VTTBR and HCR only configure the payload's regime, which does not run on this
    // CPU until the world switch; the stage-2 tables they name were built and cleaned to the PoC
    // by the boot CPU and stay for the life of the system.
    unsafe {
        regs::write::<regs::Vtcr>(VTCR_40BIT);
        regs::write64::<regs::Vttbr>(p.vttbr);
        regs::write::<regs::Hcr>(HCR_PAYLOAD.bits());
    }
    regs::tlbi_all_pl1();
    if fresh {
        let sctlr = regs::read::<regs::Sctlr>();
        // SAFETY: the payload's own SCTLR, before it runs: MMU and D-cache off, as the Linux
        // boot protocol enters a kernel. HYP's own translation is not affected.
        unsafe { regs::write::<regs::Sctlr>(sctlr & !(Sctlr::M.bits() | Sctlr::C.bits())) };
    }
}

/// The fingerprint of the page-table pages in use (HYP boot and runtime tables, stage 2) when cpu0
/// entered the payload: nothing the payload does (hotplug, PSCI, aborts) may change them.
static TABLES_AT_START: AtomicU32 = AtomicU32::new(0);

/// A fingerprint of the page pool's pages in use, word by word: h := rotl(h, 7) + word is a
/// bijection of h for each word, so any one changed word changes the result.
fn tables_fingerprint(bi: &BootInfo) -> u32 {
    let base = bi.layout.va(bi.layout.pool_off).0 as usize;
    let words = (bi.pool_pages_used * PAGE_SIZE / 4) as usize;
    // SAFETY: the pool's pages (bi.pool_pages_used of them from pool_off, all within the
    // pool pages the runtime table maps RW at this VA, layout::runtime_plan) are only read here.
    let s = unsafe { core::slice::from_raw_parts(base as *const u32, words) };
    s.iter().fold(0u32, |h, w| h.rotate_left(7).wrapping_add(*w))
}

/// The boot CPU enters the payload (Linux boot protocol: r0 = 0, r1 = ~0, r2 = DTB).
pub fn start_boot_cpu(bi: &BootInfo) -> ! {
    let p = payload(bi);
    if let Some(f) = &p.fw_cfg {
        fwcfg::reset(f);
    }
    TABLES_AT_START.store(tables_fingerprint(bi), Ordering::Relaxed);
    PERCPU[0].power.set_on();
    log!("payload: cpu0 enters it at {:#x} in SVC, r2 = device tree {:#x}", p.entry, p.dtb);
    let mut ctx = Pl1Context { elr: p.entry, spsr: SPSR_SVC_MASKED, ..Default::default() };
    ctx.r[0] = 0;
    ctx.r[1] = !0;
    ctx.r[2] = p.dtb;
    run(bi, ctx, true)
}

/// A CPU started by the payload's CPU_ON, now in the runtime: enter the payload's entry point with
/// its context id.
pub fn start_secondary(bi: &BootInfo, cpu: usize) -> ! {
    let me = &PERCPU[cpu];
    if !me.power.arrived() {
        fatal!("cpu{cpu} entered the runtime without a CPU_ON from the payload");
    }
    let mut ctx =
        Pl1Context { elr: me.payload_entry.load(Ordering::Acquire), spsr: SPSR_SVC_MASKED, ..Default::default() };
    ctx.r[0] = me.payload_context.load(Ordering::Acquire);
    if ctx.elr & 1 != 0 {
        // Thumb entry point.
        ctx.elr &= !1;
        ctx.spsr |= Psr::T.bits();
    }
    run(bi, ctx, true)
}

/// Resume a payload CPU after HYPFW_TEARDOWN / HYPFW_REINIT (its context was checked by
/// `hotplug::take_resumed_caller`).
pub fn resume(bi: &BootInfo, ctx: Pl1Context) -> ! {
    run(bi, ctx, false)
}

fn run(bi: &BootInfo, mut ctx: Pl1Context, fresh: bool) -> ! {
    enter_stage2(payload(bi), fresh);
    loop {
        // SAFETY: the context is the payload's (entered in SVC, or resumed as a PL0/PL1 mode), and
        // enter_stage2 confined it: stage 2 keeps it out of hypfw's memory, SMCs trap.
        let h = unsafe { world::run(&mut ctx) };
        handle_exit(bi, &mut ctx, h);
    }
}

fn handle_exit(bi: &BootInfo, ctx: &mut Pl1Context, h: Hsr) {
    let me = this_cpu();
    match h.ec() {
        hsr::EC_HVC if h.hvc_imm() == Some(0) && hvc::FunctionId(ctx.r[0]).owner() == hvc::OWNER_STANDARD_SECURE => {
            // PSCI by HVC (the conduit hypfw describes where the platform has no SMC to trap).
            me.hvcs.fetch_add(1, Ordering::Relaxed);
            let out = psci_call(bi, ctx);
            ctx.r[..4].copy_from_slice(&[out, 0, 0, 0]);
        }
        hsr::EC_HVC => {
            me.hvcs.fetch_add(1, Ordering::Relaxed);
            match hvc::dispatch([ctx.r[0], ctx.r[1], ctx.r[2], ctx.r[3]], h.hvc_imm().unwrap_or(0)) {
                hvc::Action::Return(out) => ctx.r[..4].copy_from_slice(&out),
                hvc::Action::Teardown => {
                    let others = (0..bi.cpus.count)
                        .filter(|&c| c != me.index as usize)
                        .map(|c| (c, PERCPU[c].power.get() != psci::Power::Off));
                    match hvc::payload_handover(bi.options.handover, others) {
                        Ok(()) => {
                            log!("cpu{}: the payload takes HYP over (HYPFW_TEARDOWN, hypfw.handover=allow)", me.index);
                            hotplug::teardown_to_caller(ctx)
                        }
                        Err(why) => {
                            static DENIED: AtomicU32 = AtomicU32::new(0);
                            if let Some(n) = super::worth_a_line(&DENIED) {
                                log!("cpu{}: payload's HYPFW_TEARDOWN denied: {why} (#{n})", me.index);
                            }
                            ctx.r[..4].copy_from_slice(&[psci::DENIED, 0, 0, 0]);
                        }
                    }
                }
            }
        }
        hsr::EC_SMC => {
            me.smcs.fetch_add(1, Ordering::Relaxed);
            ctx.elr = ctx.elr.wrapping_add(4); // a trapped SMC returns after itself
            ctx.spsr = hsr::spsr_after_skip(ctx.spsr);
            if hsr::smc_failed_condition(h) {
                return; // a conditional SMC that would not have run: skipped, registers kept
            }
            let out = psci_call(bi, ctx);
            ctx.r[..4].copy_from_slice(&[out, 0, 0, 0]);
        }
        hsr::EC_DABT_LOWER | hsr::EC_PABT_LOWER => stage2_abort(bi, ctx, h),
        hsr::EC_CP15_32 if h.cp15_access().is_some_and(|a| a.reg == hsr::ACTLR) => actlr_access(ctx, h),
        _ => {
            log!(
                "cpu{}: payload trapped with {} (HSR {:#010x}, ISS {:#x}) at {:#x}, SPSR {:#x}",
                me.index,
                h.ec_name(),
                h.0,
                h.iss(),
                ctx.elr,
                ctx.spsr
            );
            for (i, pair) in ctx.r.chunks(4).enumerate() {
                log!("  r{}..: {}", i * 4, crate::drivers::console::List(pair, crate::drivers::console::Radix::Hex08));
            }
            log!("  lr_usr {:#010x}", ctx.lr_usr);
            fatal!("unexpected trap from the payload: {} (HSR {:#010x})", h.ec_name(), h.0)
        }
    }
}

/// A trapped SMC that is not PSCI's or SMCCC's own (a SiP, OEM or Trusted OS call, or a SoC's
/// older convention such as OMAP's ROM monitor, with its service in r12): hypfw answers it
/// NOT_SUPPORTED and does not pass it on, since the Secure firmware would act on addresses and
/// settings stage 2 cannot check. Said, so that a kernel that depends on one is not left to guess.
#[cold]
#[inline(never)]
fn other_smc(ctx: &Pl1Context) -> u32 {
    static OTHER: AtomicU32 = AtomicU32::new(0);
    let owner = hvc::FunctionId(ctx.r[0]).owner();
    if owner != hvc::OWNER_ARCH && owner != hvc::OWNER_STANDARD_SECURE && super::worth_a_line(&OTHER).is_some() {
        // (No count, unlike the other rate-limited lines: the resident text had no room for it.)
        log!(
            "payload's SMC r0 {:#x} r12 {:#x} (PC {:#x}) is not PSCI: NOT_SUPPORTED, not passed to the Secure firmware",
            ctx.r[0],
            ctx.r[12],
            ctx.elr
        );
    }
    psci::NOT_SUPPORTED
}

fn stage2_abort(bi: &BootInfo, ctx: &mut Pl1Context, h: Hsr) {
    let me = this_cpu();
    let data = h.ec() == hsr::EC_DABT_LOWER;
    let far = if data { regs::read::<regs::Hdfar>() } else { regs::read::<regs::Hifar>() };
    let ipa = hsr::fault_ipa(regs::read::<regs::Hpfar>(), far);
    // The pages whose accesses the runtime carries out (or refuses) for the payload.
    let p = payload(bi);
    let fw_cfg = p.fw_cfg.as_ref().filter(|f| f.page.base <= ipa && ipa < f.page.end());
    let release = p.cpu_release.as_ref().filter(|_| p.holes[3].base <= ipa && ipa < p.holes[3].end());
    if data
        && (fw_cfg.is_some() || release.is_some())
        && let Some(a) = Trapped::decode(ctx, h)
        && match (fw_cfg, release) {
            (Some(f), _) => fwcfg::access(f, ctx, &a, ipa, me.index),
            (_, Some(r)) => super::release::access(r, ctx, &a, ipa, me.index),
            _ => false,
        }
    {
        return;
    }
    let write = data && h.is_write();
    let st = inject::Pl1State {
        cpsr: ctx.spsr,
        sctlr: regs::read::<regs::Sctlr>(),
        ttbcr: regs::read::<regs::Ttbcr>(),
        vbar: regs::read::<regs::Vbar>(),
    };
    let i = inject::external_abort(st, ctx.elr, data, write, far, h.on_stage1_walk());
    if i.enters_itself(ctx.elr) {
        vector_unfetchable(me.index, i.pc, ipa, st.vbar, st.sctlr, h);
    }
    if let Some(n) = super::worth_a_line(&me.s2_aborts) {
        log!(
            "cpu{}: payload {} at IPA {ipa:#x} (VA {far:#x}, PC {:#x}): stage-2 {}{}; injecting an external abort (#{n} on this CPU)",
            me.index,
            if data { if write { "write" } else { "read" } } else { "instruction fetch" },
            ctx.elr,
            hsr::fsc_name(h.fsc()),
            if h.on_stage1_walk() { " on its stage-1 table walk" } else { "" }
        );
    }
    // SAFETY: the payload's own PL1 fault registers and Abort-mode banked registers (from HYP),
    // written as the architecture's Abort exception entry would: they change only what the payload
    // sees when it next runs.
    unsafe {
        if i.is_data {
            regs::write::<regs::Dfsr>(i.fsr);
            regs::write::<regs::Dfar>(i.far);
        } else {
            regs::write::<regs::Ifsr>(i.fsr);
            regs::write::<regs::Ifar>(i.far);
        }
        regs::set_abt_banked(i.spsr_abt, i.lr_abt);
    }
    ctx.elr = i.pc;
    ctx.spsr = i.cpsr;
}

/// The abort hypfw would inject enters a vector the payload cannot fetch: it would take it there
/// again for ever (`Injection::enters_itself`). Out of the abort path, which it would slow.
#[cold]
#[inline(never)]
fn vector_unfetchable(cpu: u32, vector: u32, ipa: u64, vbar: u32, sctlr: u32, h: Hsr) -> ! {
    fatal!(
        "cpu{cpu}: the payload cannot take the abort: its Prefetch Abort vector {vector:#x} (IPA {ipa:#x}; VBAR {vbar:#x}, SCTLR {sctlr:#x}) is where it cannot fetch (stage-2 {}), so it would fault there for ever",
        hsr::fsc_name(h.fsc())
    )
}

/// The payload's ACTLR access (HCR.TAC): a read gets the real ACTLR, a write is ignored (see
/// `HCR_PAYLOAD`); one that would clear SMP is reported. Then past the instruction.
fn actlr_access(ctx: &mut Pl1Context, h: Hsr) {
    static CLEARS: AtomicU32 = AtomicU32::new(0);
    if let Some(a) = h.cp15_access()
        && hsr::condition_passed(h, ctx.spsr)
    {
        let actlr = arch::actlr();
        match (a.read, a.rt) {
            // r13/r14 would be the trapped mode's banked SP/LR: left as they are.
            (true, rt) if rt < 13 => ctx.r[rt] = actlr,
            (false, rt) if rt < 13 && ctx.r[rt] & hsr::ACTLR_SMP == 0 && actlr & hsr::ACTLR_SMP != 0 => {
                if let Some(n) = super::worth_a_line(&CLEARS) {
                    log!(
                        "cpu{}: payload's ACTLR write of {:#x} ignored: it would clear SMP and take this CPU, HYP \
                         included, out of coherency (PC {:#x}, #{n})",
                        this_cpu().index,
                        ctx.r[rt],
                        ctx.elr
                    );
                }
            }
            // Any other change: no bit but SMP is Non-secure PL1's to write, and SMP stays set.
            // (Under QEMU, whose ACTLR reads 0, Linux sets SMP on every CPU it brings up.)
            (false, rt) if rt < 13 && ctx.r[rt] != actlr => {
                static OTHERS: AtomicU32 = AtomicU32::new(0);
                if let Some(n) = super::worth_a_line(&OTHERS) {
                    detail!(
                        "cpu{}: payload's ACTLR write of {:#x} ignored (ACTLR stays {actlr:#x}; PC {:#x}, #{n})",
                        this_cpu().index,
                        ctx.r[rt],
                        ctx.elr
                    );
                }
            }
            _ => {}
        }
    }
    ctx.elr = ctx.elr.wrapping_add(if h.il() { 4 } else { 2 });
    ctx.spsr = hsr::spsr_after_skip(ctx.spsr);
}

fn ram_and_holes(bi: &BootInfo) -> (&[MemRange], &[MemRange]) {
    (bi.platform.ram(), &payload(bi).holes)
}

/// Carry out one PSCI call of the payload; returns r0.
fn psci_call(bi: &BootInfo, ctx: &Pl1Context) -> u32 {
    let (ram, holes) = ram_and_holes(bi);
    match psci::decode([ctx.r[0], ctx.r[1], ctx.r[2], ctx.r[3]], &bi.cpus, ram, holes) {
        Request::Version => psci::VERSION_1_0,
        Request::Features(psci::CPU_ON | psci::CPU_OFF) if bi.cpu_control == CpuControl::None => psci::NOT_SUPPORTED,
        Request::Features(fid) => psci::features(fid),
        Request::SmcccVersion => hvc::SMCCC_VERSION_1_1,
        Request::SmcccArchFeatures(fid) => hvc::answer([hvc::SMCCC_ARCH_FEATURES, fid, 0, 0], 0)[0],
        // Where the platform's PSCI runs the CPUs, so may a Trusted OS that cannot move off its
        // CPU: the platform says which (Linux then keeps that CPU online, rather than have its
        // CPU_OFF refused, which would stop hypfw in the init page). Elsewhere hypfw is the
        // only PSCI there is, and there is no Trusted OS to ask about.
        Request::MigrateInfoType if bi.cpu_control == CpuControl::Psci => arch::psci::call(psci::MIGRATE_INFO_TYPE),
        Request::MigrateInfoType => psci::MIGRATE_NONE,
        Request::MigrateInfoUpCpu if bi.cpu_control == CpuControl::Psci => arch::psci::call(psci::MIGRATE_INFO_UP_CPU),
        Request::MigrateInfoUpCpu => psci::NOT_SUPPORTED,
        // (By HVC only owner 4's calls get here, which `other_smc` passes over.)
        Request::Error(psci::NOT_SUPPORTED) => other_smc(ctx),
        Request::Error(e) => e,
        Request::CpuOn { .. } if bi.cpu_control == CpuControl::None => psci::NOT_SUPPORTED,
        Request::CpuOn { cpu, entry, context } => cpu_on(cpu, entry, context),
        Request::AffinityInfo { cpu } => affinity_info(bi, cpu),
        Request::CpuSuspend { .. } => {
            // Standby: the payload's interrupts are its own (IMO clear), and a pending one wakes
            // WFI even while masked; the payload takes it after the return.
            arch::wfi();
            psci::SUCCESS
        }
        // Without the platform's PSCI or hypfw's pen there is nowhere to put a CPU (nor a CPU_ON
        // to bring it back): only the boot CPU runs, and it stays.
        Request::CpuOff if bi.cpu_control == CpuControl::None => psci::DENIED,
        Request::CpuOff => {
            let me = this_cpu();
            me.power.off();
            // Each CPU going off stores its state before it reads the others' (a full barrier
            // between), so of two going off at once at least one sees the other off.
            core::sync::atomic::fence(Ordering::SeqCst);
            if PERCPU[..bi.cpus.count].iter().all(|c| c.power.get() == psci::Power::Off) {
                log!("cpu{}: the payload turned its last running CPU off (CPU_OFF): nothing runs now", me.index);
            }
            hotplug::teardown(hotplug::off_action(bi))
        }
        Request::SystemOff => {
            report_counts(bi, "the payload powered the system off");
            crate::base::stop::payload_power(false)
        }
        Request::SystemReset => {
            report_counts(bi, "the payload asked for a system reset");
            crate::base::stop::payload_power(true)
        }
    }
}

fn cpu_on(cpu: usize, entry: u32, context: u32) -> u32 {
    let t = &PERCPU[cpu];
    if let Err(e) = t.power.request_on() {
        return e;
    }
    t.payload_entry.store(entry, Ordering::Release);
    t.payload_context.store(context, Ordering::Release);
    // The CPU may still be on its way down from a CPU_OFF: wait for it to be off first.
    let r = hotplug::start(cpu);
    if let Err(e) = r {
        static FAILED: AtomicU32 = AtomicU32::new(0);
        if let Some(n) = super::worth_a_line(&FAILED) {
            log!("cpu{cpu}: CPU_ON for the payload failed: {e} (#{n})");
        }
        t.power.start_failed();
        return psci::INTERNAL_FAILURE;
    }
    psci::SUCCESS
}

fn affinity_info(bi: &BootInfo, cpu: usize) -> u32 {
    match PERCPU[cpu].power.get() {
        psci::Power::On => psci::AFF_ON,
        psci::Power::OnPending => psci::AFF_ON_PENDING,
        // Off for the payload; report OFF only once the CPU really is off (or parked), so that
        // a CPU_ON that follows finds it ready.
        psci::Power::Off if hotplug::is_down(bi, cpu) => psci::AFF_OFF,
        psci::Power::Off => psci::AFF_ON,
    }
}

fn report_counts(bi: &BootInfo, why: &str) {
    log!("{why}; exits per CPU:");
    super::report_cpus(bi);
    let _ = super::report_stacks(bi);
    if let Some(f) = &payload(bi).fw_cfg {
        fwcfg::report(f);
    }
    let (start, now) = (TABLES_AT_START.load(Ordering::Relaxed), tables_fingerprint(bi));
    log!(
        "memory: page pool {} of {} pages used, no heap; page tables {} since cpu0 entered the payload (fingerprint {start:#010x}, now {now:#010x})",
        bi.pool_pages_used,
        bi.layout.pool_pages,
        if start == now { "unchanged" } else { "CHANGED" }
    );
}
