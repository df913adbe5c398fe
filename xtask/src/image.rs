//! Turning the linker's ELF into hypfw's image files: fill the relocation table from the
//! `--emit-relocs` output, write `hypfw.elf` and the raw `hypfw.bin` with its zImage header.

use object::elf;
use object::read::elf::{ElfFile32, FileHeader, ProgramHeader, Rel, SectionHeader, SectionTable, Sym};
use object::{Endianness, Object, ObjectSection, ObjectSymbol, SectionIndex};
use std::path::Path;

pub struct Image {
    pub elf: Vec<u8>,
    pub bin: Vec<u8>,
    pub relocs: (usize, usize),
    /// Offset of the end of .bss: where a pack must start (the entry code zeroes .bss).
    pub image_end: usize,
}

/// hypfw followed by a payload pack: the bare image padded to its end of .bss, then the pack; the
/// zImage header's size covers the whole file.
pub fn with_pack(bare: &[u8], image_end: usize, pack: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = bare.to_vec();
    out.resize(image_end, 0);
    out.extend_from_slice(pack);
    hypfw_core::payload::zimage::finish_header(&mut out).map_err(|e| format!("zImage header: {e:?}"))?;
    Ok(out)
}

/// A position-dependent payload ELF as raw bytes: (bytes, load address, entry offset).
pub fn raw_payload(elf_path: &Path) -> Result<(Vec<u8>, u32, u32), String> {
    let data = std::fs::read(elf_path).map_err(|e| format!("{}: {e}", elf_path.display()))?;
    let f = ElfFile32::<Endianness>::parse(&*data)
        .map_err(|e| format!("{} is not a 32-bit ELF file: {e}", elf_path.display()))?;
    let endian = f.endian();
    let segs: Vec<_> = f
        .elf_program_headers()
        .iter()
        .filter(|ph| ph.p_type(endian) == elf::PT_LOAD && ph.p_filesz(endian) > 0)
        .map(|ph| (ph.p_paddr(endian) as u64, ph.p_offset(endian) as usize, ph.p_filesz(endian) as usize))
        .collect();
    let start =
        segs.iter().map(|s| s.0).min().ok_or_else(|| format!("{} has no loadable segment", elf_path.display()))?;
    let end = segs.iter().map(|s| s.0 + s.2 as u64).max().unwrap();
    let mut bin = vec![0u8; (end - start) as usize];
    for (pa, off, sz) in segs {
        let at = (pa - start) as usize;
        bin[at..at + sz].copy_from_slice(&data[off..off + sz]);
    }
    let entry = f.entry() - start;
    Ok((bin, start as u32, entry as u32))
}

/// The self-test payload as a relocatable raw image: (bytes, link address, entry offset,
/// relocation table in `abi::reloc` format).
pub fn relocatable_payload(elf_path: &Path) -> Result<(Vec<u8>, u32, u32, Vec<u8>), String> {
    let (bin, start, entry) = raw_payload(elf_path)?;
    let data = std::fs::read(elf_path).map_err(|e| format!("{}: {e}", elf_path.display()))?;
    let (abs, movt) = collect_relocs(&data, start as u64, start as u64 + bin.len() as u64)?;
    let mut table = vec![0u8; 4 * (3 + abs.len() + movt.len())];
    hypfw_core::abi::reloc::encode(&abs, &movt, &mut table).map_err(|e| e.to_string())?;
    Ok((bin, start, entry, table))
}

fn sym_addr(f: &ElfFile32<Endianness>, name: &str) -> Result<u64, String> {
    f.symbols().find(|s| s.name() == Ok(name)).map(|s| s.address()).ok_or(format!("symbol {name} missing"))
}

/// The addresses of `names` in the ELF at `elf_path`, in that order.
pub fn symbols(elf_path: &Path, names: &[&str]) -> Result<Vec<u64>, String> {
    let data = std::fs::read(elf_path).map_err(|e| format!("{}: {e}", elf_path.display()))?;
    let f = ElfFile32::<Endianness>::parse(&*data).map_err(|e| e.to_string())?;
    names.iter().map(|n| sym_addr(&f, n)).collect()
}

/// Collect (absolute words, MOVT instructions) that hold image addresses.
fn collect_relocs(data: &[u8], image_start: u64, image_end: u64) -> Result<(Vec<u32>, Vec<u32>), String> {
    let f = ElfFile32::<Endianness>::parse(data).map_err(|e| e.to_string())?;
    let endian = f.endian();
    let header = f.elf_header();
    let sections = header.sections(endian, data).map_err(|e| e.to_string())?;
    let symbols = sections.symbols(endian, data, elf::SHT_SYMTAB).map_err(|e| e.to_string())?;
    let (mut abs, mut movt) = (Vec::new(), Vec::new());
    // Symbols reached through the GOT: (value, moves with the image).
    let mut got_syms: Vec<(u64, bool)> = Vec::new();
    for sh in sections.iter() {
        if sh.sh_type(endian) != elf::SHT_REL {
            continue;
        }
        let target = sections.section(SectionIndex(sh.sh_info(endian) as usize)).map_err(|e| e.to_string())?;
        if target.sh_flags(endian) & elf::SHF_ALLOC == 0 {
            continue; // debug info
        }
        let Some((rels, _)) = sh.rel(endian, data).map_err(|e| e.to_string())? else { continue };
        for r in rels {
            let ty = r.r_type(endian);
            let off = r.r_offset(endian) as u64;
            let sym_index = r.r_sym(endian);
            let sym = symbols.symbol(object::SymbolIndex(sym_index as usize)).map_err(|e| e.to_string())?;
            let shndx = sym.st_shndx(endian);
            let moves = shndx != elf::SHN_ABS && shndx != elf::SHN_UNDEF;
            if ty == elf::R_ARM_GOT_PREL {
                got_syms.push((sym.st_value(endian) as u64, moves));
            }
            if !moves {
                continue; // constants and undefined weak symbols do not move with the image
            }
            if !(image_start..image_end).contains(&off) {
                return Err(format!("relocation at {off:#x} outside the image"));
            }
            let o = (off - image_start) as u32;
            match ty {
                elf::R_ARM_ABS32 | elf::R_ARM_TARGET1 => abs.push(o),
                elf::R_ARM_MOVT_ABS => movt.push(o),
                // MOVW holds the low half, unchanged by a 64 KiB-multiple bias; the rest are
                // PC-relative.
                // PC-relative, to the symbol or to its GOT entry (whose word is listed below).
                elf::R_ARM_GOT_PREL
                | elf::R_ARM_MOVW_ABS_NC
                | elf::R_ARM_CALL
                | elf::R_ARM_JUMP24
                | elf::R_ARM_REL32
                | elf::R_ARM_PREL31
                | elf::R_ARM_ALU_PC_G0
                | elf::R_ARM_ALU_PC_G0_NC
                | elf::R_ARM_ALU_PC_G1
                | elf::R_ARM_ALU_PC_G1_NC
                | elf::R_ARM_LDR_PC_G1
                | elf::R_ARM_LDR_PC_G2
                | elf::R_ARM_ALU_PC_G2
                | elf::R_ARM_THM_PC22
                | elf::R_ARM_THM_JUMP24
                | elf::R_ARM_NONE
                | elf::R_ARM_V4BX => {}
                t => return Err(format!("unsupported relocation type {t} at {off:#x}: hypfw cannot relocate it")),
            }
        }
    }
    // The GOT (code built for the PIE relocation model reaches symbols defined outside Rust through
    // it) holds link-time addresses that the linker gives no relocation for in a static link: each
    // word moves with the image iff the symbol it holds does. Two symbols at one address, one
    // moving and one not, would leave a word undecided.
    // The linker scripts merge the GOT into .rodata between __got_start and __got_end.
    let bound = |name: &str| f.symbols().find(|s| s.name() == Ok(name)).map(|s| s.address());
    if let (Some(base), Some(end)) = (bound("__got_start"), bound("__got_end")) {
        let sec = f
            .sections()
            .find(|s| s.address() <= base && end <= s.address() + s.size())
            .ok_or(format!("the GOT at {base:#x}..{end:#x} lies in no section"))?;
        let data = sec.data().map_err(|e| e.to_string())?;
        let bytes = &data[(base - sec.address()) as usize..(end - sec.address()) as usize];
        if !bytes.len().is_multiple_of(4) || !base.is_multiple_of(4) {
            return Err(format!("the GOT at {base:#x}..{end:#x} is not made of aligned words"));
        }
        for (i, w) in bytes.chunks_exact(4).enumerate() {
            let v = u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as u64;
            let at = base + 4 * i as u64;
            let moving = got_syms.iter().any(|&(sv, m)| sv == v && m);
            let fixed = got_syms.iter().any(|&(sv, m)| sv == v && !m);
            match (moving, fixed) {
                (true, false) if (image_start..image_end).contains(&at) => abs.push((at - image_start) as u32),
                (true, false) => return Err(format!("GOT entry at {at:#x} outside the image")),
                (false, true) => {}
                (true, true) => {
                    return Err(format!(
                        "GOT entry at {at:#x} holds {v:#x}, the address of a symbol that moves with the image and of one that does not"
                    ));
                }
                (false, false) if v == 0 => {} // an undefined weak symbol
                (false, false) => {
                    return Err(format!("GOT entry at {at:#x} holds {v:#x}, which no GOT reference names"));
                }
            }
        }
    }
    abs.sort_unstable();
    abs.dedup();
    movt.sort_unstable();
    movt.dedup();
    Ok((abs, movt))
}

/// Every relocation of a loaded section (`--emit-relocs`), as (type, place, its symbol's value,
/// whether that symbol is a section's).
fn loaded_relocations(data: &[u8]) -> Result<Vec<(u32, u64, u64, bool)>, String> {
    let f = ElfFile32::<Endianness>::parse(data).map_err(|e| e.to_string())?;
    let endian = f.endian();
    let sections = f.elf_header().sections(endian, data).map_err(|e| e.to_string())?;
    let symbols = sections.symbols(endian, data, elf::SHT_SYMTAB).map_err(|e| e.to_string())?;
    let mut rels = Vec::new();
    for sh in sections.iter().filter(|sh| sh.sh_type(endian) == elf::SHT_REL) {
        let target = sections.section(SectionIndex(sh.sh_info(endian) as usize)).map_err(|e| e.to_string())?;
        if target.sh_flags(endian) & elf::SHF_ALLOC == 0 {
            continue;
        }
        let Some((list, _)) = sh.rel(endian, data).map_err(|e| e.to_string())? else { continue };
        for r in list {
            let sym = symbols.symbol(object::SymbolIndex(r.r_sym(endian) as usize)).map_err(|e| e.to_string())?;
            let section_sym = sym.st_type() == elf::STT_SECTION;
            rels.push((r.r_type(endian), r.r_offset(endian) as u64, sym.st_value(endian) as u64, section_sym));
        }
    }
    Ok(rels)
}

/// The linked word at `addr` of a loaded section.
fn linked_word(
    data: &[u8],
    sections: &SectionTable<'_, elf::FileHeader32<Endianness>>,
    endian: Endianness,
    addr: u64,
) -> Option<u32> {
    sections.iter().find_map(|sh| {
        let (base, size) = (sh.sh_addr(endian) as u64, sh.sh_size(endian) as u64);
        let loaded = sh.sh_flags(endian) & elf::SHF_ALLOC != 0 && sh.sh_type(endian) == elf::SHT_PROGBITS;
        (loaded && (base..base + size).contains(&addr)).then(|| {
            let at = sh.sh_offset(endian) as usize + (addr - base) as usize;
            data.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        })?
    })
}

/// References from the resident copy to the boot-only text: relocations placed in `resident`
/// whose target lies in `boot_only`, as (place, target). The resident copy leaves the boot-only
/// text out and its VAs unmapped, so such a reference would fault when the runtime follows it.
/// Targets are read from the linked instructions: a branch's offset, an absolute word's value, a
/// MOVT's high half joined with the low half of the MOVW that loads the same register before it
/// (or, with no such MOVW, the relocation's symbol).
fn boot_only_refs(
    data: &[u8],
    resident: std::ops::Range<u64>,
    boot_only: std::ops::Range<u64>,
) -> Result<Vec<(u64, u64)>, String> {
    let f = ElfFile32::<Endianness>::parse(data).map_err(|e| e.to_string())?;
    let endian = f.endian();
    let header = f.elf_header();
    let sections = header.sections(endian, data).map_err(|e| e.to_string())?;
    let word = |addr: u64| linked_word(data, &sections, endian, addr);
    let rels = loaded_relocations(data)?;
    let movw_places: std::collections::BTreeSet<u64> =
        rels.iter().filter(|r| r.0 == elf::R_ARM_MOVW_ABS_NC).map(|r| r.1).collect();
    let imm16 = |insn: u32| ((insn >> 4) & 0xF000) | (insn & 0xFFF);
    let mut out = Vec::new();
    for (ty, place, sym_value, section_sym) in rels {
        if !resident.contains(&place) {
            continue;
        }
        let Some(insn) = word(place) else { continue };
        let target = match ty {
            elf::R_ARM_CALL | elf::R_ARM_JUMP24 => {
                Some(place.wrapping_add(8).wrapping_add((((insn << 8) as i32 >> 6) as i64) as u64) & 0xFFFF_FFFF)
            }
            elf::R_ARM_ABS32 | elf::R_ARM_TARGET1 => Some(insn as u64),
            // PC-relative words name their symbol (a function, or a label in data).
            elf::R_ARM_REL32 | elf::R_ARM_GOT_PREL if !section_sym => Some(sym_value),
            elf::R_ARM_MOVT_ABS => {
                let rd = (insn >> 12) & 0xF;
                // The MOVW of the same register, at most 64 instructions before.
                let low = (1..=64u64)
                    .filter_map(|k| place.checked_sub(4 * k))
                    .filter(|p| movw_places.contains(p))
                    .filter_map(&word)
                    .find(|w| (w >> 12) & 0xF == rd)
                    .map(imm16);
                match low {
                    Some(lo) => Some(((imm16(insn) as u64) << 16) | lo as u64),
                    None if !section_sym => Some(sym_value),
                    None => None,
                }
            }
            _ => None,
        };
        if let Some(t) = target.filter(|t| boot_only.contains(t)) {
            out.push((place, t));
        }
    }
    Ok(out)
}

/// The read-only input sections that only the boot-only text refers to, by name, from a link's
/// map file (`-Map`) and its ELF with `--emit-relocs`: `cargo xtask build` lists them in the
/// next link's script before the resident copy (linker.ld), so that the boot phase's strings and
/// tables do not take pages of the resident image. A section is boot-only when every reference to
/// it comes from the boot-only text or from another boot-only section (the pieces of a format
/// string point at its strings), and it has at least one; one that nothing refers to by a
/// relocation, or that a GOT entry names, stays resident. The linker's merged sections
/// (`<internal>`) cannot be named and stay where they are. If a relocation cannot be read (a type
/// this does not know, or a PC-relative word against a section symbol, whose target its addend
/// hides), nothing moves. `cargo xtask build` then checks that nothing resident refers to the
/// boot-only part ([`make`]).
pub fn boot_only_rodata(elf_path: &Path, map_path: &Path) -> Result<Vec<String>, String> {
    let map = std::fs::read_to_string(map_path).map_err(|e| format!("{}: {e}", map_path.display()))?;
    let data = std::fs::read(elf_path).map_err(|e| format!("{}: {e}", elf_path.display()))?;
    let sections = map_rodata_sections(&map);
    let f = ElfFile32::<Endianness>::parse(&*data).map_err(|e| e.to_string())?;
    let boot = sym_addr(&f, "__image_start")?..sym_addr(&f, "__resident_start")?;
    let got = sym_addr(&f, "__got_start")?;
    let Some(refs) = data_refs(&data, got)? else { return Ok(Vec::new()) };
    Ok(boot_only_of(&sections, &refs, boot))
}

/// (address, size, name) of every named read-only input section in a map file, by address.
fn map_rodata_sections(map: &str) -> Vec<(u64, u64, String)> {
    let mut out: Vec<(u64, u64, String)> = map
        .lines()
        .filter_map(|l| {
            // "VMA LMA SIZE ALIGN FILE:(SECTION)"
            let mut w = l.split_whitespace();
            let (vma, _, size, _, input) = (w.next()?, w.next()?, w.next()?, w.next()?, w.next()?);
            let (file, name) = input.split_once(":(")?;
            let name = name.strip_suffix(')')?;
            if file.starts_with('<') || !name.starts_with(".rodata.") || w.next().is_some() {
                return None;
            }
            let (vma, size) = (u64::from_str_radix(vma, 16).ok()?, u64::from_str_radix(size, 16).ok()?);
            (size > 0).then(|| (vma, size, name.to_string()))
        })
        .collect();
    out.sort();
    out
}

/// Every (place, target) a data reference in the loaded sections makes: an absolute word's
/// value; a PC-relative word's symbol (its word holds target - the PC it is added to, which only
/// the code knows), with the GOT (`got`) as the place of a reference through it. None when a
/// relocation cannot be read so (then nothing may move).
fn data_refs(data: &[u8], got: u64) -> Result<Option<Vec<(u64, u64)>>, String> {
    let f = ElfFile32::<Endianness>::parse(data).map_err(|e| e.to_string())?;
    let endian = f.endian();
    let sections = f.elf_header().sections(endian, data).map_err(|e| e.to_string())?;
    let word = |addr: u64| linked_word(data, &sections, endian, addr).map(u64::from);
    let mut out = Vec::new();
    for (ty, place, sym_value, section_sym) in loaded_relocations(data)? {
        match ty {
            elf::R_ARM_ABS32 | elf::R_ARM_TARGET1 => match word(place) {
                Some(w) => out.push((place, w)),
                None => return Ok(None),
            },
            elf::R_ARM_REL32 if !section_sym => out.push((place, sym_value)),
            elf::R_ARM_GOT_PREL if !section_sym => out.push((got, sym_value)),
            // Branches and the entry's ADR reach code, never data.
            elf::R_ARM_CALL | elf::R_ARM_JUMP24 | elf::R_ARM_ALU_PC_G0 | elf::R_ARM_NONE => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// The names of `sections` that only `boot` (or other such sections) refers to (see
/// [`boot_only_rodata`]).
fn boot_only_of(sections: &[(u64, u64, String)], refs: &[(u64, u64)], boot: std::ops::Range<u64>) -> Vec<String> {
    let index_of = |a: u64| {
        let i = sections.partition_point(|s| s.0 <= a).checked_sub(1)?;
        (a < sections[i].0 + sections[i].1).then_some(i)
    };
    let mut referrers: Vec<Vec<u64>> = vec![Vec::new(); sections.len()];
    for &(place, target) in refs {
        if let Some(i) = index_of(target) {
            referrers[i].push(place);
        }
    }
    let mut boot_only: Vec<bool> = referrers.iter().map(|r| !r.is_empty()).collect();
    loop {
        let mut changed = false;
        for i in 0..sections.len() {
            if boot_only[i]
                && !referrers[i].iter().all(|&p| boot.contains(&p) || index_of(p).is_some_and(|j| boot_only[j]))
            {
                boot_only[i] = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut names: Vec<String> = (0..sections.len()).filter(|&i| boot_only[i]).map(|i| sections[i].2.clone()).collect();
    names.sort();
    names
}

/// The name of the function symbol that holds `addr`, for messages.
fn function_at(data: &[u8], addr: u64) -> String {
    let Ok(f) = ElfFile32::<Endianness>::parse(data) else { return format!("{addr:#x}") };
    f.symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text && s.address() <= addr && addr < s.address() + s.size().max(1))
        .max_by_key(|s| s.address())
        .and_then(|s| s.name().ok().map(|n| format!("{n}+{:#x}", addr - s.address())))
        .unwrap_or_else(|| format!("{addr:#x}"))
}

/// Bytes the relocation table of the linked image at `elf_path` needs, and the bytes the image
/// has for it (the `.hypfw_relocs` section).
/// The file offset and length of the relocation table: `__relocs_start..__relocs_end`, which
/// linker.ld places in `.text`'s last page before the resident copy.
fn table_range(f: &ElfFile32<Endianness>) -> Result<(usize, usize), String> {
    let (a, b) = (sym_addr(f, "__relocs_start")?, sym_addr(f, "__relocs_end")?);
    let sec = f
        .sections()
        .find(|s| s.address() <= a && b <= s.address() + s.size())
        .ok_or(format!("the relocation table at {a:#x}..{b:#x} lies in no section"))?;
    let (off, _) = sec.file_range().ok_or("the relocation table has no file data")?;
    Ok(((off + a - sec.address()) as usize, (b - a) as usize))
}

pub fn reloc_table_fit(elf_path: &Path) -> Result<(usize, usize), String> {
    let data = std::fs::read(elf_path).map_err(|e| format!("{}: {e}", elf_path.display()))?;
    let (start, image_end, have) = {
        let f = ElfFile32::<Endianness>::parse(&*data).map_err(|e| e.to_string())?;
        let (_, len) = table_range(&f)?;
        (sym_addr(&f, "__image_start")?, sym_addr(&f, "__image_end")?, len)
    };
    let (abs, movt) = collect_relocs(&data, start, image_end)?;
    Ok((4 * (3 + abs.len() + movt.len()), have))
}

pub fn make(elf_path: &Path) -> Result<Image, String> {
    let mut data = std::fs::read(elf_path).map_err(|e| format!("{}: {e}", elf_path.display()))?;
    let (start, data_end, image_end, table_off, table_len, resident_start) = {
        let f = ElfFile32::<Endianness>::parse(&*data).map_err(|e| e.to_string())?;
        let (off, len) = table_range(&f)?;
        (
            sym_addr(&f, "__image_start")?,
            sym_addr(&f, "__file_end")?,
            sym_addr(&f, "__image_end")?,
            off,
            len,
            sym_addr(&f, "__resident_start")?,
        )
    };
    let (abs, movt) = collect_relocs(&data, start, image_end)?;
    let bad = boot_only_refs(&data, resident_start..data_end, start..resident_start)?;
    if let Some(&(place, target)) = bad.first() {
        let list: Vec<String> = bad
            .iter()
            .take(8)
            .map(|&(p, t)| format!("  {} -> {}", function_at(&data, p), function_at(&data, t)))
            .collect();
        return Err(format!(
            "{} reference(s) from the resident copy to the boot-only text (first at {place:#x} -> {target:#x}); \
             move the target out of the boot-only sections in linker.ld, or the caller into them:\n{}",
            bad.len(),
            list.join("\n")
        ));
    }
    hypfw_core::abi::reloc::encode(&abs, &movt, &mut data[table_off..table_off + table_len])
        .map_err(|e| format!("{e} ({} + {} entries)", abs.len(), movt.len()))?;

    // Raw image: the loadable segments laid out from the image start to the end of .data (the
    // relocation table lies in the boot-only text's last page; .bss and the boot stack are not in
    // the file: the entry code zeroes .bss).
    let file_end = data_end;
    let mut bin = vec![0u8; (file_end - start) as usize];
    {
        let f = ElfFile32::<Endianness>::parse(&*data).map_err(|e| e.to_string())?;
        let endian = f.endian();
        for ph in f.elf_program_headers() {
            if ph.p_type(endian) != elf::PT_LOAD || ph.p_filesz(endian) == 0 {
                continue;
            }
            let va = ph.p_vaddr(endian) as u64;
            let (off, sz) = (ph.p_offset(endian) as usize, ph.p_filesz(endian) as usize);
            let at = (va - start) as usize;
            let n = sz.min(bin.len().saturating_sub(at));
            bin[at..at + n].copy_from_slice(&data[off..off + n]);
        }
    }
    hypfw_core::payload::zimage::finish_header(&mut bin).map_err(|e| format!("zImage header: {e:?}"))?;
    Ok(Image { elf: data, bin, relocs: (abs.len(), movt.len()), image_end: (image_end - start) as usize })
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::{Object, Relocation, SectionId, Symbol, SymbolId, SymbolSection};
    use object::{
        Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
    };

    /// A relocatable ARM ELF like the linker's `--emit-relocs` output: `.text` at address 0 with
    /// a local symbol in it, an absolute symbol, an undefined one, and a debug section.
    struct Elf {
        obj: Object<'static>,
        text: SectionId,
        debug: SectionId,
        local: SymbolId,
        abs: SymbolId,
        undef: SymbolId,
    }

    impl Elf {
        fn new() -> Self {
            Self::with_text(&[0u8; 0x100])
        }

        fn with_text(code: &[u8]) -> Self {
            let mut obj = Object::new(BinaryFormat::Elf, Architecture::Arm, Endianness::Little);
            let text = obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
            obj.append_section_data(text, code, 4);
            let debug = obj.add_section(Vec::new(), b".debug_info".to_vec(), SectionKind::Debug);
            obj.append_section_data(debug, &[0u8; 0x20], 4);
            let sym = |obj: &mut Object, name: &[u8], section, value| {
                obj.add_symbol(Symbol {
                    name: name.to_vec(),
                    value,
                    size: 0,
                    kind: SymbolKind::Data,
                    scope: SymbolScope::Compilation,
                    weak: false,
                    section,
                    flags: SymbolFlags::None,
                })
            };
            let local = sym(&mut obj, b"local", SymbolSection::Section(text), 0x40);
            let abs = sym(&mut obj, b"abs", SymbolSection::Absolute, 0x1234);
            let undef = sym(&mut obj, b"undef", SymbolSection::Undefined, 0);
            Elf { obj, text, debug, local, abs, undef }
        }

        fn reloc(&mut self, section: SectionId, offset: u64, symbol: SymbolId, r_type: u32) -> &mut Self {
            let r = Relocation { offset, symbol, addend: 0, flags: RelocationFlags::Elf { r_type } };
            self.obj.add_relocation(section, r).unwrap();
            self
        }

        fn bytes(&self) -> Vec<u8> {
            self.obj.write().unwrap()
        }
    }

    #[test]
    fn absolute_words_and_movt_are_collected_sorted_and_once() {
        let mut e = Elf::new();
        let (text, local) = (e.text, e.local);
        e.reloc(text, 0x20, local, elf::R_ARM_ABS32)
            .reloc(text, 0x08, local, elf::R_ARM_TARGET1)
            .reloc(text, 0x10, local, elf::R_ARM_MOVT_ABS)
            .reloc(text, 0x0C, local, elf::R_ARM_MOVW_ABS_NC)
            .reloc(text, 0x30, local, elf::R_ARM_CALL);
        assert_eq!(collect_relocs(&e.bytes(), 0, 0x100), Ok((vec![0x08, 0x20], vec![0x10])));
    }

    /// Absolute and undefined symbols do not move with the image; relocations of sections that
    /// are not loaded (debug info) do not concern it.
    #[test]
    fn constants_undefined_symbols_and_debug_info_are_left_alone() {
        let mut e = Elf::new();
        let (text, debug, local, abs, undef) = (e.text, e.debug, e.local, e.abs, e.undef);
        e.reloc(text, 0x00, abs, elf::R_ARM_ABS32)
            .reloc(text, 0x04, undef, elf::R_ARM_ABS32)
            .reloc(debug, 0x00, local, elf::R_ARM_ABS32)
            .reloc(text, 0x40, local, elf::R_ARM_ABS32);
        assert_eq!(collect_relocs(&e.bytes(), 0, 0x100), Ok((vec![0x40], vec![])));
    }

    #[test]
    fn relocations_hypfw_cannot_apply_are_refused_with_their_place() {
        let mut e = Elf::new();
        let (text, local) = (e.text, e.local);
        e.reloc(text, 0x18, local, elf::R_ARM_GOT32);
        let err = collect_relocs(&e.bytes(), 0, 0x100).unwrap_err();
        assert!(err.contains("unsupported relocation type") && err.contains("0x18"), "{err}");

        let mut e = Elf::new();
        let (text, local) = (e.text, e.local);
        e.reloc(text, 0x80, local, elf::R_ARM_ABS32);
        let err = collect_relocs(&e.bytes(), 0, 0x40).unwrap_err();
        assert!(err.contains("outside the image"), "{err}");
    }

    /// A branch, a MOVW/MOVT pair and an absolute word placed in the resident part and aimed at the
    /// boot-only part are each found; the same aimed at the resident part, or placed in the
    /// boot-only part, are not.
    #[test]
    fn references_into_the_boot_only_text_are_found() {
        let mut code = vec![0u8; 0x100];
        let mut put = |at: usize, w: u32| code[at..at + 4].copy_from_slice(&w.to_le_bytes());
        put(0x80, 0xEBFF_FFE2); // bl 0x10 (0x88 - 30 * 4)
        put(0x84, 0xEB00_0000); // bl 0x8c: resident
        put(0x90, 0xE300_5010); // movw r5, #0x10
        put(0x94, 0xE340_5000); // movt r5, #0 -> 0x10
        put(0x98, 0xE300_6090); // movw r6, #0x90
        put(0x9C, 0xE340_6000); // movt r6, #0 -> 0x90: resident
        put(0xA0, 0x0000_0020); // .word 0x20
        put(0x20, 0xEBFF_FFFE); // bl 0x20: placed in the boot-only part
        let mut e = Elf::with_text(&code);
        let (text, local) = (e.text, e.local);
        for (at, ty) in [
            (0x80, elf::R_ARM_CALL),
            (0x84, elf::R_ARM_CALL),
            (0x90, elf::R_ARM_MOVW_ABS_NC),
            (0x94, elf::R_ARM_MOVT_ABS),
            (0x98, elf::R_ARM_MOVW_ABS_NC),
            (0x9C, elf::R_ARM_MOVT_ABS),
            (0xA0, elf::R_ARM_ABS32),
            (0x20, elf::R_ARM_CALL),
        ] {
            e.reloc(text, at, local, ty);
        }
        let found = boot_only_refs(&e.bytes(), 0x40..0x100, 0..0x40).unwrap();
        assert_eq!(found, vec![(0x80, 0x10), (0x94, 0x10), (0xA0, 0x20)]);
    }

    /// Offsets are from the image start, not from address 0.
    #[test]
    fn read_only_input_sections_are_read_from_the_map() {
        let map = "\
40224000 40224000     61b8     8 .rodata
40224000 40224000     1499     1         <internal>:(.rodata.str1.1)
40225499 40225499       1b     1         /t/hypfw.rcgu.o:(.rodata..Lanon.1c.5)
40225499 40225499       1b     1                 .Lanon.1c.5
402254b8 402254b8        0     8         /t/hypfw.rcgu.o:(.rodata..Lanon.1c.6)
40211000 40211000       40     4         /t/hypfw.rcgu.o:(.text.boot_main)
40213000 40213000       10     4         /t/hypfw.rcgu.o:(.rodata._ZN5hypfw5TABLE17h0E)
";
        assert_eq!(
            map_rodata_sections(map),
            vec![
                (0x4021_3000, 0x10, ".rodata._ZN5hypfw5TABLE17h0E".into()),
                (0x4022_5499, 0x1b, ".rodata..Lanon.1c.5".into())
            ],
            "named, non-empty read-only input sections, wherever the last link put them, by address"
        );
    }

    /// Boot-only: referred to only from the boot-only text, or only from such sections (a format
    /// string's pieces and their strings). Resident: anything else, unreferenced ones included.
    #[test]
    fn only_what_the_boot_alone_reaches_is_boot_only() {
        let s = |a: u64, n: &str| (a, 0x10, n.to_string());
        let sections = [s(0x100, "a"), s(0x200, "b"), s(0x300, "c"), s(0x400, "d"), s(0x500, "e"), s(0x600, "f")];
        let boot = 0x1000..0x2000;
        let refs = [
            (0x1004, 0x100), // a: from the boot text
            (0x1008, 0x204), // b: from the boot text and from resident code
            (0x3000, 0x200),
            (0x100, 0x300),  // c: from a only
            (0x200, 0x400),  // d: from b only
            (0x1010, 0x600), // f: from the boot text, and from the GOT (resident)
            (0x5000, 0x600),
        ];
        assert_eq!(boot_only_of(&sections, &refs, boot), vec!["a".to_string(), "c".to_string()]);
    }

    #[test]
    fn offsets_are_relative_to_the_image() {
        let mut e = Elf::new();
        let (text, local) = (e.text, e.local);
        e.reloc(text, 0x24, local, elf::R_ARM_ABS32);
        assert_eq!(collect_relocs(&e.bytes(), 0x20, 0x100), Ok((vec![0x4], vec![])));
    }
}
