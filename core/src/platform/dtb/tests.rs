//! DTB parsing against QEMU virt's own trees (dumped with `qemu-system-arm -M
//! virt,virtualization=on,dumpdtb=...`, compacted with dtc) and a board-shaped tree with nested
//! `ranges`, plus corrupt variants of each.

use super::*;
use crate::mm::layout::MemRange;
use proptest::prelude::*;

const VIRT_SMP4: &[u8] = include_bytes!("../../../../tests/fixtures/qemu-virt-smp4.dtb");
const VIRT_4G: &[u8] = include_bytes!("../../../../tests/fixtures/qemu-virt-4g.dtb");
const VIRT_SECURE: &[u8] = include_bytes!("../../../../tests/fixtures/qemu-virt-secure-smp4.dtb");
const BOARD: &[u8] = include_bytes!("../../../../tests/fixtures/board-ranges.dtb");

#[test]
fn qemu_virt_platform() {
    let p = parse(VIRT_SMP4).unwrap();
    assert!(!p.fallback);
    assert_eq!(p.ram(), &[MemRange { base: 0x4000_0000, size: 1 << 30 }]);
    assert_eq!(p.console, Some(Console { kind: UartKind::Pl011, base: 0x0900_0000, size: 0x1000, compatible: 0 }));
    let gic = p.gic.unwrap();
    assert_eq!(gic.dist.0, 0x0800_0000);
    assert_eq!(gic.cpu.0, 0x0801_0000);
    assert_eq!(gic.hyp.map(|h| h.0), Some(0x0803_0000));
    assert_eq!(gic.vcpu.map(|v| v.0), Some(0x0804_0000));
    assert_eq!(p.ncpus, 4);
    assert_eq!(p.cpus().iter().map(|c| c.mpidr).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert!(p.cpus().iter().all(|c| c.psci));
    assert_eq!(p.psci, Some(PsciMethod::Smc));
    assert_eq!(p.fw_cfg, Some((0x0902_0000, 0x18)), "QEMU's fw_cfg: data, selector, DMA address");
    assert_eq!(p.cpu_release, None, "QEMU virt starts CPUs by PSCI only");
}

#[test]
fn qemu_virt_ram_above_4g_is_64_bit() {
    let p = parse(VIRT_4G).unwrap();
    assert_eq!(p.ram(), &[MemRange { base: 0x4000_0000, size: 4 << 30 }]);
}

#[test]
fn board_console_through_alias_and_nested_ranges() {
    let p = parse(BOARD).unwrap();
    assert_eq!(p.fw_cfg, None, "boards have no fw_cfg");
    assert_eq!(
        p.console,
        Some(Console {
            kind: UartKind::Ns16550 { reg_shift: 2, io_width: 1 },
            base: 0x4802_0000,
            size: 0x100,
            compatible: 4
        })
    );
    assert_eq!(
        p.ram(),
        &[MemRange { base: 0x8000_0000, size: 1 << 30 }, MemRange { base: 0x2_0000_0000, size: 1 << 30 }]
    );
    assert_eq!(p.gic.unwrap().hyp, Some((0x4821_4000, 0x2000)));
    assert_eq!(p.psci, Some(PsciMethod::Hvc));
    assert_eq!(p.timer_freq, Some(6_144_000));
    assert_eq!(p.ncpus, 2);
}

fn set_be32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn corrupt_headers_are_named() {
    let mut b = VIRT_SMP4.to_vec();
    b[0] = 0;
    assert!(matches!(parse(&b), Err(DtbError::BadMagic(_))));
    assert!(matches!(parse(&VIRT_SMP4[..100]), Err(DtbError::BadHeader("totalsize (blob truncated)"))));
    let mut b = VIRT_SMP4.to_vec();
    set_be32(&mut b, 8, 0x7fff_fff0); // off_dt_struct
    assert!(matches!(parse(&b), Err(DtbError::TooLarge(_))));
    let mut b = VIRT_SMP4.to_vec();
    set_be32(&mut b, 8, 0x1_0000); // off_dt_struct beyond totalsize, within 2 MiB
    assert!(matches!(parse(&b), Err(DtbError::BadHeader(_))));
    let mut b = VIRT_SMP4.to_vec();
    set_be32(&mut b, 20, 3); // version
    assert_eq!(parse(&b), Err(DtbError::UnsupportedVersion(3)));
    let mut b = VIRT_SMP4.to_vec();
    set_be32(&mut b, 36, 3 << 20); // size_dt_struct
    set_be32(&mut b, 4, 4 << 20); // totalsize
    assert!(matches!(parse(&b), Err(DtbError::TooLarge(_))));
}

/// libfdt users leave free space after the blocks: a 16 MiB totalsize is fine, and only the used
/// blocks are read.
#[test]
fn free_space_after_the_blocks_is_not_read() {
    let mut b = VIRT_SMP4.to_vec();
    set_be32(&mut b, 4, 16 << 20); // totalsize
    assert_eq!(header_total_size(&b[..40]), Ok(VIRT_SMP4.len()));
    b.resize(b.len() + 4096, 0xEE); // some of the free space
    assert_eq!(tidy(&mut b), Ok((VIRT_SMP4.len(), 0)));
    assert_eq!(parse(&b[..VIRT_SMP4.len()]).unwrap(), parse(VIRT_SMP4).unwrap());
}

#[test]
fn corrupt_structure_is_caught() {
    let off_struct = u32::from_be_bytes(VIRT_SMP4[8..12].try_into().unwrap()) as usize;
    // First token must be FDT_BEGIN_NODE; an unknown token there is reported at offset 0.
    let mut b = VIRT_SMP4.to_vec();
    set_be32(&mut b, off_struct, 0x77);
    assert_eq!(parse(&b), Err(DtbError::BadStructure { offset: 0, what: "unknown token" }));
    // A huge property length.
    let mut b = VIRT_SMP4.to_vec();
    let prop = (off_struct..).step_by(4).find(|&o| u32::from_be_bytes(b[o..o + 4].try_into().unwrap()) == 3).unwrap();
    set_be32(&mut b, prop + 4, 0x00ff_ffff);
    assert!(matches!(
        parse(&b),
        Err(DtbError::BadStructure { what: "property value runs past the structure block", .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Any corruption of any byte gives a Platform or an error, never a panic.
    #[test]
    fn random_corruption_never_panics(pos in 0usize..VIRT_SMP4.len(), val in any::<u8>(), cut in 40usize..8000) {
        let mut b = VIRT_SMP4.to_vec();
        b[pos] = val;
        let _ = parse(&b);
        let _ = parse(&b[..cut.min(b.len())]);
    }
}

/// With secure=on QEMU describes Secure RAM and a Secure UART as status = "disabled": they are not
/// hypfw's (Non-secure) to use.
#[test]
fn secure_only_nodes_are_skipped() {
    let p = parse(VIRT_SECURE).unwrap();
    assert_eq!(p.ram(), &[MemRange { base: 0x4000_0000, size: 1 << 30 }]);
    assert_eq!(p.console.map(|c| c.base), Some(0x0900_0000));
    assert_eq!(p.ncpus, 4);
    assert_eq!(p.psci, None);
}

/// The structure block of `blob` as the firmware sees it: 32-bit words in memory order.
fn struct_words(blob: &[u8]) -> Vec<u32> {
    let r = struct_block(blob).unwrap();
    blob[r].chunks(4).map(|c| u32::from_ne_bytes(c.try_into().unwrap())).collect()
}

/// The boot path (tokens through the word view) describes every fixture exactly as the byte
/// reader does, and a corrupt tree fails the same way.
#[test]
fn word_view_reads_as_the_bytes_do() {
    for blob in [VIRT_SMP4, VIRT_4G, VIRT_SECURE, BOARD] {
        let words = struct_words(blob);
        let used = header_total_size(blob).unwrap();
        match check_and_describe(blob, &words).unwrap() {
            Checked::Ready(d) => {
                let mut b = blob[..used].to_vec();
                shrink_total_size(&mut b, used);
                assert_eq!(d, describe(&b).unwrap());
            }
            Checked::NeedsTidy => {
                let mut b = blob.to_vec();
                let (len, _, d) = tidy_and_describe(&mut b).unwrap();
                let words = struct_words(&b[..len]);
                match check_and_describe(&b[..len], &words).unwrap() {
                    Checked::Ready(d2) => assert_eq!(d, d2),
                    Checked::NeedsTidy => panic!("a tidied tree needs no more tidying"),
                }
            }
        }
        // A token broken in the middle of the structure block: both views refuse it alike.
        let mut bad = blob[..used].to_vec();
        let r = struct_block(&bad).unwrap();
        let mid = r.start + ((r.len() / 2) & !3);
        bad[mid..mid + 4].copy_from_slice(&0x77u32.to_be_bytes());
        let words = struct_words(&bad);
        assert_eq!(
            check_and_describe(&bad, &words).err(),
            validate_allowing_nops(&bad).err(),
            "the word view must reject what the byte view rejects"
        );
    }
}

/// A word view too short for the structure block is not used (bytes are read instead).
#[test]
fn short_word_view_falls_back_to_bytes() {
    let words = struct_words(VIRT_SMP4);
    let used = header_total_size(VIRT_SMP4).unwrap();
    let blob = &VIRT_SMP4[..used];
    if let Ok(Checked::Ready(d)) = check_and_describe(blob, &words[..words.len() / 2]) {
        assert_eq!(d, describe(blob).unwrap());
    }
}

proptest! {
    /// The word-at-a-time NUL search finds what a byte search finds, wherever the bytes hold
    /// zeros, 0x01 or 0x80 (the values the bit trick could confuse), and whether the view is
    /// longer than the block, covers it exactly, or is too short (then bytes are read).
    #[test]
    fn word_nul_search_matches_bytes(
        bytes in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(0x80u8), Just(0x81u8), any::<u8>()], 0..40),
        from_word in 0usize..12,
        cut in 0usize..4,
        extra in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let st_len = bytes.len().saturating_sub(cut);
        let mut padded = bytes.clone();
        padded.extend_from_slice(&extra);
        padded.resize(padded.len().div_ceil(4) * 4, 0);
        let words: Vec<u32> = padded.chunks(4).map(|c| u32::from_ne_bytes(c.try_into().unwrap())).collect();
        let st = &bytes[..st_len];
        let from = from_word * 4;
        let want = st.get(from..).and_then(|t| t.iter().position(|&b| b == 0));
        prop_assert_eq!(node::nul_at(st, &words, from), want);
        prop_assert_eq!(node::nul_at(st, &[], from), want);
        prop_assert_eq!(node::nul_at(st, &words[..words.len() / 2], from), want);
    }
}

proptest! {
    /// Name lookups by remembered offset answer as comparing the strings does, on strings blocks
    /// with repeated names, names that are suffixes of others ("linux,compatible" holds
    /// "compatible"), offsets into the middle of names and offsets that share a miss slot.
    #[test]
    fn names_by_offset_match_string_compares(
        parts in proptest::collection::vec(0usize..8, 1..24),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 1..200),
    ) {
        const POOL: [&str; 8] =
            ["compatible", "status", "device_type", "linux,compatible", "statusx", "reg", "compatible", "tatus"];
        let mut strings = Vec::new();
        for &i in &parts {
            strings.extend_from_slice(POOL[i].as_bytes());
            strings.push(0);
        }
        // Structure block: one empty-valued FDT_PROP per pick, naming any offset of the block.
        let mut st = Vec::new();
        for p in &picks {
            for w in [FDT_PROP, 0, p.index(strings.len()) as u32] {
                st.extend_from_slice(&w.to_be_bytes());
            }
        }
        let b = node::Blocks { st: &st, words: &[], strings: &strings };
        let wanted = ["compatible", "device_type", "status"];
        let mut names = reference::Names::new(wanted);
        let mut off = 0;
        while let Some((p, next)) = b.prop_at(off) {
            prop_assert_eq!(names.which(&p), wanted.iter().position(|n| node::name_is(p.names, n.as_bytes())));
            off = next;
        }
        prop_assert_eq!(off, st.len());
    }
}

/// A node's properties, for [`build_tree`].
type Props<'a> = &'a [(&'a str, &'a [u8])];

/// A root of one address cell and one size cell, and the 1 GiB of RAM at 0x4000_0000 under it.
const ONE_CELL_ROOT: Props = &[("#address-cells", &[0, 0, 0, 1]), ("#size-cells", &[0, 0, 0, 1])];
const GIB_AT_4000_0000: Props = &[("device_type", b"memory\0"), ("reg", &[0x40, 0, 0, 0, 0x40, 0, 0, 0])];

/// A flattened tree built from `(name, properties, nodes closed after it)` steps: a small writer
/// for trees the fixtures do not have.
fn build_tree(nodes: &[(&str, Props, usize)]) -> Vec<u8> {
    let (mut st, mut strings) = (Vec::new(), Vec::<u8>::new());
    let mut depth = 0;
    for &(name, props, close_after) in nodes {
        st.extend_from_slice(&FDT_BEGIN_NODE.to_be_bytes());
        st.extend_from_slice(name.as_bytes());
        st.push(0);
        st.resize(st.len().div_ceil(4) * 4, 0);
        for &(pname, value) in props {
            let off = strings
                .windows(pname.len() + 1)
                .position(|w| &w[..pname.len()] == pname.as_bytes() && w[pname.len()] == 0);
            let off = off.unwrap_or_else(|| {
                strings.extend_from_slice(pname.as_bytes());
                strings.push(0);
                strings.len() - pname.len() - 1
            });
            for w in [FDT_PROP, value.len() as u32, off as u32] {
                st.extend_from_slice(&w.to_be_bytes());
            }
            st.extend_from_slice(value);
            st.resize(st.len().div_ceil(4) * 4, 0);
        }
        depth += 1;
        for _ in 0..close_after {
            st.extend_from_slice(&FDT_END_NODE.to_be_bytes());
            depth -= 1;
        }
    }
    assert_eq!(depth, 0, "every node closed");
    st.extend_from_slice(&FDT_END.to_be_bytes());
    let (off_rsv, off_struct) = (40usize, 56usize);
    let off_strings = off_struct + st.len();
    let total = off_strings + strings.len();
    let mut blob = Vec::new();
    for w in [0xd00d_feedu32, total as u32, off_struct as u32, off_strings as u32, off_rsv as u32, 17, 16, 0]
        .into_iter()
        .chain([strings.len() as u32, st.len() as u32])
    {
        blob.extend_from_slice(&w.to_be_bytes());
    }
    blob.extend_from_slice(&[0; 16]);
    blob.extend_from_slice(&st);
    blob.extend_from_slice(&strings);
    blob
}

/// Each question of the walk takes the first node in document order that answers it: a UART
/// only when enabled (a disabled one first, then two enabled ones, the first wins, whichever of
/// its compatible strings matches), PSCI whatever its status; later matches change nothing.
#[test]
fn walk_takes_the_first_match_in_document_order() {
    let reg = |a: u32| [a.to_be_bytes(), 0x100u32.to_be_bytes()].concat();
    let (r1, r2, r3) = (reg(0x1000), reg(0x2000), reg(0x3000));
    let cells = ONE_CELL_ROOT;
    let blob = build_tree(&[
        ("", cells, 0),
        ("serial@1000", &[("compatible", b"foo\0arm,pl011\0"), ("reg", &r1), ("status", b"disabled\0")], 1),
        ("serial@2000", &[("compatible", b"vendor,uart\0arm,pl011\0"), ("reg", &r2)], 1),
        ("serial@3000", &[("compatible", b"arm,pl011\0"), ("reg", &r3)], 1),
        ("psci", &[("compatible", b"arm,psci-0.2\0"), ("method", b"hvc\0"), ("status", b"disabled\0")], 1),
        ("psci2", &[("compatible", b"arm,psci\0"), ("method", b"smc\0")], 2),
    ]);
    let p = parse(&blob).unwrap();
    assert_eq!(p.console.map(|c| c.base), Some(0x2000));
    assert_eq!(p.psci, Some(PsciMethod::Hvc));
}

/// A `stdout-path` naming the root names no device: the first enabled UART is the console, as
/// without a path (the root has no parent whose cells would decode a `reg`).
#[test]
fn stdout_path_naming_the_root_falls_back_to_the_first_uart() {
    let cells = ONE_CELL_ROOT;
    let reg = [0x1000u32.to_be_bytes(), 0x100u32.to_be_bytes()].concat();
    let blob = build_tree(&[
        ("", cells, 0),
        ("chosen", &[("stdout-path", b"/\0")], 1),
        ("serial@1000", &[("compatible", b"arm,pl011\0"), ("reg", &reg)], 2),
    ]);
    assert_eq!(parse(&blob).unwrap().console.map(|c| c.base), Some(0x1000));
}

/// What the one pass gives for `blob`, read every way the firmware and the tools read a tree:
/// `describe` (bytes, NOPs only after a node's children), `validate_allowing_nops`, and the boot
/// path through a word view (a tree with NOPs handed to tidying).
fn one_pass_agrees_with_the_reference(blob: &[u8]) {
    assert_eq!(describe(blob), reference::describe(blob), "describe");
    assert_eq!(validate_counting(blob, true), reference::validate_counting(blob, true), "validate_allowing_nops");
    assert_eq!(validate_counting(blob, false), reference::validate_counting(blob, false), "validate");
    if let Ok(used) = header_total_size(blob)
        && let Some(raw) = blob.get(..used)
        && let Ok(r) = struct_block(raw)
    {
        let words: Vec<u32> = raw[r].chunks_exact(4).map(|c| u32::from_ne_bytes(c.try_into().unwrap())).collect();
        let mut shrunk = raw.to_vec();
        shrink_total_size(&mut shrunk, used);
        match check_and_describe(raw, &words) {
            Ok(Checked::Ready(d)) => assert_eq!(Ok(d), reference::describe(&shrunk), "word view"),
            Ok(Checked::NeedsTidy) => assert!(matches!(reference::validate_counting(raw, true), Ok((_, n)) if n > 0)),
            Err(e) => {
                let want =
                    reference::validate_counting(raw, true).and_then(|_| reference::describe(&shrunk).map(|_| ()));
                assert_eq!(Err(e), want, "word view error");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    /// Corrupt fixtures (a byte, a word, a cut) read as the reference reads them: the same
    /// description, or the same error at the same offset.
    #[test]
    fn one_pass_matches_the_reference_on_corrupt_fixtures(
        which in 0usize..4,
        pos in any::<prop::sample::Index>(),
        val in any::<u8>(),
        word in prop_oneof![Just(None), (0u32..12).prop_map(Some), any::<u32>().prop_map(Some)],
        cut in proptest::option::of(40usize..12000),
    ) {
        let mut b = [VIRT_SMP4, VIRT_4G, VIRT_SECURE, BOARD][which].to_vec();
        let at = pos.index(b.len());
        match word {
            None => b[at] = val,
            Some(w) => {
                let at = at & !3;
                let end = (at + 4).min(b.len());
                b[at..end].copy_from_slice(&w.to_be_bytes()[..end - at]);
            }
        }
        if let Some(cut) = cut {
            b.truncate(cut);
        }
        one_pass_agrees_with_the_reference(&b);
    }
}

/// Node names, property names and values the generated trees draw from: the questions' answers
/// and near misses, and paths that name nodes of these names (or almost).
const GEN_NAMES: [&str; 16] = [
    "serial",
    "serial@1000",
    "serial@2000",
    "soc",
    "soc@0",
    "bus@8000",
    "chosen",
    "aliases",
    "cpus",
    "cpu@0",
    "memory@40000000",
    "reserved-memory",
    "psci",
    "intc@8000000",
    "fw-cfg@9020000",
    "x",
];
const GEN_PATHS: [&[u8]; 14] = [
    b"/serial@1000\0",
    b"/serial\0",
    b"/soc/serial@2000\0",
    b"/soc/serial:115200n8\0",
    b"serial0:115200n8\0",
    b"serial1\0",
    b"/\0",
    b"//soc//serial@1000/\0",
    b"/soc@0/bus@8000/serial\0",
    b"/seria\0",
    b"/serial@1000\0/x\0",
    b"/cpus/cpu@0\0",
    b"nope\0",
    b"\xff\xfe\0",
];
type GenProp = (&'static str, &'static [u8]);
const GEN_PROPS: [GenProp; 36] = [
    ("compatible", b"arm,pl011\0"),
    ("compatible", b"foo\0arm,pl011\0"),
    ("compatible", b"arm,pl011"),
    ("compatible", b"ns16550a\0"),
    ("compatible", b"snps,dw-apb-uart\0"),
    ("compatible", b"arm,cortex-a15-gic\0"),
    ("compatible", b"virtio,mmio\0arm,gic-400\0"),
    ("compatible", b"arm,psci-0.2\0"),
    ("compatible", b"arm,armv7-timer\0"),
    ("compatible", b"qemu,fw-cfg-mmio\0"),
    ("compatible", b"\0\0arm,pl01\0arm,pl0111\0"),
    ("status", b"okay\0"),
    ("status", b"disabled\0"),
    ("status", b"ok\0"),
    ("device_type", b"memory\0"),
    ("device_type", b"cpu\0"),
    ("reg", &[0, 0, 0x10, 0, 0, 0, 1, 0]),
    ("reg", &[0, 0, 0x20, 0, 0, 0, 1, 0, 0, 0, 0x30, 0, 0, 0, 0, 0x10]),
    ("reg", &[0, 0, 0, 1, 0, 0, 0x10, 0, 0, 0, 0, 0x10]),
    ("reg", &[1, 2, 3]),
    ("#address-cells", &[0, 0, 0, 1]),
    ("#address-cells", &[0, 0, 0, 2]),
    ("#size-cells", &[0, 0, 0, 1]),
    ("#size-cells", &[0, 0, 0, 0]),
    ("#address-cells", &[0xff, 0xff, 0xff, 0xff]),
    ("#size-cells", &[0x40, 0, 0, 0]),
    ("ranges", b""),
    ("ranges", &[0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]),
    ("method", b"hvc\0"),
    ("enable-method", b"psci\0"),
    ("clock-frequency", &[0, 0x5d, 0xc0, 0]),
    ("reg-shift", &[0, 0, 0, 2]),
    ("bootargs", b"hypfw.verbose\0"),
    ("dma-coherent", b""),
    ("interrupts", &[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4]),
    ("linux,stdout-path", b"/serial@2000\0"),
];

/// One node of a generated tree: a name (index into [`GEN_NAMES`]), properties (into
/// [`GEN_PROPS`]), how many nodes close after it, and a path (into [`GEN_PATHS`]) to give it as
/// `stdout-path` (true: it becomes `/chosen`) or as the `serial0` alias (it becomes `/aliases`).
type GenStep = (usize, Vec<usize>, usize, Option<(bool, usize)>);

/// A node's name, properties and the count of nodes closed after it, as [`build_tree`] takes them.
type OwnedNode<'a> = (String, Vec<(&'a str, Vec<u8>)>, usize);

/// A tree from [`GenStep`]s, with `filler` childless nodes after the first.
fn gen_tree(steps: &[GenStep], filler: usize) -> Vec<u8> {
    let mut owned: Vec<OwnedNode> = Vec::new();
    let root_cells = vec![("#address-cells", vec![0, 0, 0, 1]), ("#size-cells", vec![0, 0, 0, 1])];
    owned.push((String::new(), root_cells, 0));
    let mut depth = 1;
    for (i, (name, props, close, path)) in steps.iter().enumerate() {
        let mut ps: Vec<(&str, Vec<u8>)> = props.iter().map(|&p| (GEN_PROPS[p].0, GEN_PROPS[p].1.to_vec())).collect();
        let mut name = GEN_NAMES[*name];
        if let Some((stdout, p)) = *path {
            // /chosen or /aliases, directly under the root.
            ps.push((if stdout { "stdout-path" } else { "serial0" }, GEN_PATHS[p].to_vec()));
            name = if stdout { "chosen" } else { "aliases" };
            if depth > 1 {
                owned.last_mut().unwrap().2 += depth - 1;
                depth = 1;
            }
        }
        depth += 1;
        // The last step closes every node, the root too; the others leave the root open.
        let close = if i + 1 == steps.len() { depth } else { close % depth };
        depth -= close;
        owned.push((name.to_string(), ps, close));
        // Filler nodes (the console's table overflows past 128) after the first step.
        if i == 0 {
            for f in 0..filler {
                owned.push((format!("filler@{f:x}"), vec![("compatible", b"virtio,mmio\0".to_vec())], 1));
            }
        }
    }
    if steps.is_empty() {
        owned[0].2 = 1;
    }
    let props: Vec<Vec<(&str, &[u8])>> =
        owned.iter().map(|(_, ps, _)| ps.iter().map(|(n, v)| (*n, v.as_slice())).collect()).collect();
    let nodes: Vec<(&str, Props, usize)> =
        owned.iter().zip(&props).map(|((n, _, c), p)| (n.as_str(), p.as_slice(), *c)).collect();
    build_tree(&nodes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10000))]
    /// Generated trees (the console named by a path before or after its node, through aliases,
    /// nodes of the same name, nested buses, more nodes than the pass remembers) read as the
    /// reference reads them.
    #[test]
    fn one_pass_matches_the_reference_on_generated_trees(
        steps in proptest::collection::vec(
            (0usize..GEN_NAMES.len(),
             proptest::collection::vec(0usize..GEN_PROPS.len(), 0..4),
             0usize..3,
             proptest::option::weighted(0.4, (any::<bool>(), 0usize..GEN_PATHS.len()))),
            0..14),
        filler in prop_oneof![4 => Just(0usize), 1 => 120usize..140],
    ) {
        one_pass_agrees_with_the_reference(&gen_tree(&steps, filler));
    }
}

/// A tree with its console named by `stdout-path`: `/chosen` first or last, with `filler` nodes
/// before the console's node (more than the pass remembers before the path is known makes it
/// search again after the pass).
fn console_tree(chosen_first: bool, filler: usize) -> Vec<u8> {
    let cells = ONE_CELL_ROOT;
    let reg = [0x4000u32.to_be_bytes(), 0x100u32.to_be_bytes()].concat();
    let uart: Props = &[("compatible", b"ns16550a\0"), ("reg", &reg)];
    let first_uart: Props = &[("compatible", b"arm,pl011\0"), ("reg", &[0, 0, 0x10, 0, 0, 0, 1, 0])];
    let chosen: Props = &[("stdout-path", b"/soc/serial@4000:115200\0")];
    let names: Vec<String> = (0..filler).map(|i| format!("filler@{i:x}")).collect();
    let mut nodes: Vec<(&str, Props, usize)> = vec![("", cells, 0)];
    if chosen_first {
        nodes.push(("chosen", chosen, 1));
    }
    nodes.push(("serial@1000", first_uart, 1));
    nodes.extend(names.iter().map(|n| (n.as_str(), &[] as Props, 1)));
    nodes.push(("soc", &[("ranges", b""), ("#address-cells", &[0, 0, 0, 1]), ("#size-cells", &[0, 0, 0, 1])], 0));
    nodes.push(("serial@4000", uart, if chosen_first { 3 } else { 2 }));
    if !chosen_first {
        nodes.push(("chosen", chosen, 2));
    }
    build_tree(&nodes)
}

/// The node `stdout-path` names is the console whether `/chosen` comes before it (matched as the
/// pass goes) or after it (searched among the nodes remembered), and with more nodes before it
/// than the pass remembers (searched after the pass); the first UART is not taken instead.
#[test]
fn console_by_path_wherever_chosen_stands() {
    for (chosen_first, filler) in [(true, 0), (false, 0), (false, 200), (true, 200)] {
        let blob = console_tree(chosen_first, filler);
        let p = parse(&blob).unwrap();
        assert_eq!(
            p.console.map(|c| (c.kind, c.base)),
            Some((UartKind::Ns16550 { reg_shift: 0, io_width: 1 }, 0x4000))
        );
        one_pass_agrees_with_the_reference(&blob);
    }
}

/// Nodes nest deeper than hypfw looks ([`PATH_MAX`]): a UART below that depth is not found, and
/// a path naming it names nothing, as the reference reads it: the path known before the nodes
/// (`/chosen` first), after them, and after more nodes than the pass remembers.
#[test]
fn nodes_below_the_deepest_path_are_not_read() {
    let cells = ONE_CELL_ROOT;
    let bus: Props = &[("ranges", b""), ("#address-cells", &[0, 0, 0, 1]), ("#size-cells", &[0, 0, 0, 1])];
    let uart: Props = &[("compatible", b"arm,pl011\0"), ("reg", &[0, 0, 0x20, 0, 0, 0, 1, 0])];
    let fillers: Vec<String> = (0..130).map(|i| format!("filler@{i:x}")).collect();
    for depth in [PATH_MAX - 2, PATH_MAX - 1, PATH_MAX, PATH_MAX + 1] {
        let path: String = "/b".repeat(depth - 1) + "/serial\0";
        let chosen = [("stdout-path", path.as_bytes())];
        for (chosen_first, filler) in [(true, 0), (false, 0), (false, 130)] {
            let mut nodes: Vec<(&str, Props, usize)> = vec![("", cells, 0)];
            if chosen_first {
                nodes.push(("chosen", &chosen, 1));
            }
            nodes.extend(fillers[..filler].iter().map(|n| (n.as_str(), &[] as Props, 1)));
            nodes.extend((0..depth - 1).map(|_| ("b", bus, 0)));
            // The UART closes with the buses above it (and the root, if /chosen came first).
            nodes.push(("serial", uart, depth + usize::from(chosen_first)));
            if !chosen_first {
                nodes.push(("chosen", &chosen, 2));
            }
            let blob = build_tree(&nodes);
            // The UART is at level depth + 1 (the root is level 1).
            let found = parse(&blob).unwrap().console.map(|c| c.base);
            assert_eq!(found, (depth < PATH_MAX).then_some(0x2000), "UART at level {}", depth + 1);
            one_pass_agrees_with_the_reference(&blob);
        }
    }
}

/// Cell counts no real tree has (`#address-cells` = 0x4000_0000 and 0xffff_ffff, whose entry
/// sizes wrap a 32-bit `usize`) give a reg error, never a panic or a wrapped stride.
#[test]
fn huge_cell_counts_are_a_reg_error() {
    let cells = ONE_CELL_ROOT;
    let reg = [0x1000u32.to_be_bytes(), 0x100u32.to_be_bytes()].concat();
    for (ac, sc) in [(0x4000_0000u32, 0u32), (0xffff_ffff, 0xffff_ffff), (0x3fff_ffff, 1), (0x2000_0000, 0x2000_0001)] {
        let (ac, sc) = (ac.to_be_bytes(), sc.to_be_bytes());
        let bus: Props =
            &[("ranges", &[0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0]), ("#address-cells", &ac), ("#size-cells", &sc)];
        let blob = build_tree(&[
            ("", cells, 0),
            ("soc", bus, 0),
            ("serial@1000", &[("compatible", b"arm,pl011\0"), ("reg", &reg)], 3),
        ]);
        assert!(matches!(parse(&blob), Err(DtbError::BadReg(_))), "{:?}", parse(&blob));
        one_pass_agrees_with_the_reference(&blob);
        // The same cells on the root.
        let root: Props = &[("#address-cells", &ac), ("#size-cells", &sc)];
        let blob = build_tree(&[("", root, 0), ("serial@1000", &[("compatible", b"arm,pl011\0"), ("reg", &reg)], 2)]);
        assert!(matches!(parse(&blob), Err(DtbError::BadReg(_))), "{:?}", parse(&blob));
        one_pass_agrees_with_the_reference(&blob);
    }
}

/// A disabled UART is never the console, whether `serial0` or `stdout-path` names it: the first
/// enabled UART hypfw has a driver for is taken instead.
#[test]
fn a_disabled_uart_named_as_console_is_passed_over() {
    let cells = ONE_CELL_ROOT;
    let reg = |a: u32| [a.to_be_bytes(), 0x100u32.to_be_bytes()].concat();
    let (r1, r2) = (reg(0x1000), reg(0x2000));
    for naming in [("aliases", "serial0"), ("chosen", "stdout-path")] {
        let named: Props = &[(naming.1, b"/serial@1000\0")];
        let blob = build_tree(&[
            ("", cells, 0),
            (naming.0, named, 1),
            ("serial@1000", &[("compatible", b"arm,pl011\0"), ("reg", &r1), ("status", b"disabled\0")], 1),
            ("serial@2000", &[("compatible", b"arm,pl011\0"), ("reg", &r2)], 2),
        ]);
        assert_eq!(parse(&blob).unwrap().console.map(|c| c.base), Some(0x2000), "{naming:?}");
        one_pass_agrees_with_the_reference(&blob);
        // Enabled, it is the console.
        let blob = build_tree(&[
            ("", cells, 0),
            (naming.0, named, 1),
            ("serial@1000", &[("compatible", b"arm,pl011\0"), ("reg", &r1)], 1),
            ("serial@2000", &[("compatible", b"arm,pl011\0"), ("reg", &r2)], 2),
        ]);
        assert_eq!(parse(&blob).unwrap().console.map(|c| c.base), Some(0x1000), "{naming:?}");
    }
}

/// RAM as U-Boot writes it on Exynos5 boards (one /memory node, eight entries of 256 MiB):
/// adjacent and overlapping entries merge into one bank, so none is dropped; ranges that stay
/// separate past MAX_RAM banks, and memory nodes past MAX_MEMORY_NODES, are counted as ignored.
#[test]
fn adjacent_ram_entries_merge_and_what_does_not_fit_is_counted() {
    let cells = ONE_CELL_ROOT;
    let mem = |entries: &[(u32, u32)]| -> Vec<u8> {
        entries.iter().flat_map(|&(b, s)| [b.to_be_bytes(), s.to_be_bytes()]).flatten().collect()
    };
    let eight: Vec<(u32, u32)> = (0..8).map(|i| (0x4000_0000 + i * 0x1000_0000, 0x1000_0000)).collect();
    let reg = mem(&eight);
    let blob = build_tree(&[("", cells, 0), ("memory@40000000", &[("device_type", b"memory\0"), ("reg", &reg)], 2)]);
    let p = parse(&blob).unwrap();
    assert_eq!(p.ram(), &[MemRange { base: 0x4000_0000, size: 0x8000_0000 }]);
    assert_eq!(p.ram_ignored, 0);
    one_pass_agrees_with_the_reference(&blob);
    // Overlapping, unsorted, touching: one bank; a separate one stays separate.
    let reg =
        mem(&[(0x5000_0000, 0x1000_0000), (0x4000_0000, 0x1800_0000), (0x6000_0000, 0x100), (0x9000_0000, 0x1000)]);
    let blob = build_tree(&[("", cells, 0), ("memory", &[("device_type", b"memory\0"), ("reg", &reg)], 2)]);
    let p = parse(&blob).unwrap();
    assert_eq!(
        p.ram(),
        &[MemRange { base: 0x4000_0000, size: 0x2000_0100 }, MemRange { base: 0x9000_0000, size: 0x1000 }]
    );
    // Six separate banks: MAX_RAM kept, the rest counted.
    let six: Vec<(u32, u32)> = (0..6).map(|i| (0x4000_0000 + i * 0x1000_0000, 0x100_0000)).collect();
    let reg = mem(&six);
    let blob = build_tree(&[("", cells, 0), ("memory", &[("device_type", b"memory\0"), ("reg", &reg)], 2)]);
    let p = parse(&blob).unwrap();
    assert_eq!((p.ram_banks, p.ram_ignored), (MAX_RAM, 6 - MAX_RAM));
    one_pass_agrees_with_the_reference(&blob);
    // Ten memory nodes of one range each, all adjacent: the first MAX_MEMORY_NODES merge, the
    // rest are counted as not read.
    let regs: Vec<Vec<u8>> = (0..10).map(|i| mem(&[(0x4000_0000 + i * 0x100_0000, 0x100_0000)])).collect();
    let mut nodes: Vec<(&str, Props, usize)> = vec![("", cells, 0)];
    let props: Vec<[(&str, &[u8]); 2]> =
        regs.iter().map(|r| [("device_type", &b"memory\0"[..]), ("reg", &r[..])]).collect();
    let names: Vec<String> = (0..10).map(|i| format!("memory@{:x}", 0x4000_0000 + i * 0x100_0000)).collect();
    for (i, p) in props.iter().enumerate() {
        nodes.push((&names[i], p, if i == 9 { 2 } else { 1 }));
    }
    let blob = build_tree(&nodes);
    let p = parse(&blob).unwrap();
    assert_eq!(p.ram(), &[MemRange { base: 0x4000_0000, size: MAX_MEMORY_NODES as u64 * 0x100_0000 }]);
    assert_eq!(p.ram_ignored, 10 - MAX_MEMORY_NODES);
    one_pass_agrees_with_the_reference(&blob);
}

/// A reservation that would run past the end of the 64-bit address space ends at its end, so
/// that its `end()` neither wraps nor overflows.
#[test]
fn a_reservation_past_the_end_of_the_address_space_ends_there() {
    let two: Props = &[("#address-cells", &[0, 0, 0, 2]), ("#size-cells", &[0, 0, 0, 2]), ("ranges", &[])];
    let reg = [0xFFFF_FFFFu32, 0xFFFF_F000, 0, 0x2000].map(u32::to_be_bytes).concat();
    let fw: [(&str, &[u8]); 1] = [("reg", &reg)];
    let nodes: Vec<(&str, Props, usize)> =
        vec![("", ONE_CELL_ROOT, 0), ("memory", GIB_AT_4000_0000, 1), ("reserved-memory", two, 0), ("fw@0", &fw, 3)];
    let blob = build_tree(&nodes);
    let p = parse(&blob).unwrap();
    assert_eq!(p.reserved(), &[MemRange { base: 0xFFFF_FFFF_FFFF_F000, size: 0xFFF }]);
    assert_eq!(p.reserved()[0].end(), u64::MAX);
    one_pass_agrees_with_the_reference(&blob);
}

/// The initrd a bootloader names in /chosen, in one or two cells each; nothing for a malformed or
/// empty one.
#[test]
fn the_bootloaders_initrd_from_chosen() {
    let one = [0x4800_0000u32.to_be_bytes(), 0x4813_A7DCu32.to_be_bytes()];
    let two = [
        [0u32.to_be_bytes(), 0x4800_0000u32.to_be_bytes()].concat(),
        [0u32.to_be_bytes(), 0x4900_0000u32.to_be_bytes()].concat(),
    ];
    let cases: [(&[u8], &[u8], Option<MemRange>); 4] = [
        (&one[0], &one[1], Some(MemRange { base: 0x4800_0000, size: 0x13_A7DC })),
        (&two[0], &two[1], Some(MemRange { base: 0x4800_0000, size: 0x100_0000 })),
        (&one[1], &one[0], None),
        (&one[0], &[1, 2], None),
    ];
    for (start, end, want) in cases {
        let chosen: [(&str, &[u8]); 2] = [("linux,initrd-start", start), ("linux,initrd-end", end)];
        let blob = build_tree(&[("", ONE_CELL_ROOT, 0), ("memory", GIB_AT_4000_0000, 1), ("chosen", &chosen, 2)]);
        assert_eq!(describe(&blob).unwrap().initrd, want);
        one_pass_agrees_with_the_reference(&blob);
    }
}

/// Reservations past MAX_RESERVED are counted (the boot phase stops on them), not dropped
/// silently.
#[test]
fn reservations_past_the_limit_are_counted() {
    let regs: Vec<Vec<u8>> =
        (0..15u32).map(|i| [(0x5000_0000 + i * 0x10_0000).to_be_bytes(), 0x1000u32.to_be_bytes()].concat()).collect();
    let names: Vec<String> = (0..15).map(|i| format!("fw@{i}")).collect();
    let props: Vec<[(&str, &[u8]); 1]> = regs.iter().map(|r| [("reg", &r[..])]).collect();
    let rm: Props = &[("#address-cells", &[0, 0, 0, 1]), ("#size-cells", &[0, 0, 0, 1]), ("ranges", &[])];
    let mut nodes: Vec<(&str, Props, usize)> =
        vec![("", ONE_CELL_ROOT, 0), ("memory", GIB_AT_4000_0000, 1), ("reserved-memory", rm, 0)];
    for (i, p) in props.iter().enumerate() {
        nodes.push((&names[i], p, if i == 14 { 3 } else { 1 }));
    }
    let blob = build_tree(&nodes);
    let p = parse(&blob).unwrap();
    assert_eq!((p.nreserved, p.reserved_ignored), (MAX_RESERVED, 15 - MAX_RESERVED));
    one_pass_agrees_with_the_reference(&blob);
}

#[test]
fn cpu_release_blocks_by_the_root() {
    let found = |root: &[u8]| cpu_release_of(root).map(|r| (r.kind, r.base, r.size));
    assert_eq!(
        found(b"arm,vexpress,v2p-ca15,tc1\0arm,vexpress\0"),
        Some((ReleaseKind::VexpressFlags, 0x1C01_0030, 0x10)),
        "SYS_FLAGS and SYS_NVFLAGS, set and clear"
    );
    assert_eq!(found(b"arm,vexpress,v2p-ca15_a7\0arm,vexpress\0").map(|r| r.1), Some(0x1C01_0030));
    assert_eq!(found(b"arm,vexpress,v2p-ca9\0arm,vexpress\0"), None, "no HYP on a Cortex-A9 tile");
    assert_eq!(found(b"arm,vexpress\0"), None);
    assert_eq!(found(b"vendor,board\0"), None);
    assert_eq!(found(b""), None);
    assert_eq!(
        found(b"lemaker,bananapi\0allwinner,sun7i-a20\0"),
        Some((ReleaseKind::AllwinnerCpucfg, 0x01C2_5C00, 0x400))
    );
    assert_eq!(
        found(b"xunlong,orangepi-pc\0allwinner,sun8i-h3\0"),
        Some((ReleaseKind::AllwinnerCpucfg, 0x01F0_1C00, 0x400))
    );
    assert_eq!(found(b"allwinner,sun8i-h3"), found(b"allwinner,sun8i-h3\0"), "with or without the last NUL");
    assert_eq!(found(b"allwinner,sun8i-v3s\0"), None, "a single-core SoC");
    assert_eq!(
        found(b"ti,am572x-beagle-x15\0ti,am5728\0ti,dra742\0ti,dra74\0ti,dra7\0"),
        Some((ReleaseKind::TiAuxCoreBoot, 0x4828_1800, 8))
    );
    assert_eq!(found(b"ti,omap5-uevm\0ti,omap5\0").map(|r| r.1), Some(0x4828_1800));
    assert_eq!(found(b"ti,am33xx\0"), None);
    assert_eq!(
        found(b"aspeed,ast2600-evb\0aspeed,ast2600\0"),
        Some((ReleaseKind::AspeedSmpMailbox, 0x1E6E_2180, 0x40))
    );
    assert_eq!(found(b"aspeed,ast2500\0"), None, "an ARM1176: no HYP");
    assert_eq!(found(b"fsl,imx7d-sdb\0fsl,imx7d\0").map(|r| (r.0, r.1)), Some((ReleaseKind::ImxSrc, 0x3039_0008)));
    assert_eq!(found(b"fsl,imx6ul-14x14-evk\0fsl,imx6ul\0"), None, "a single core");
    assert_eq!(found(b"allwinner,sun8i-h3x\0allwinner,sun8i-h\0"), None, "whole strings only");
}
