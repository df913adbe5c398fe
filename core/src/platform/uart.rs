//! Which UART a device-tree node is, and how hypfw drives it: the compatible strings of the
//! consoles on hypfw's boards, most specific first, with what the string implies when the node
//! does not say (TI's OMAP UARTs space their registers 4 bytes apart without a `reg-shift`; Linux's
//! 8250_omap driver knows that from the compatible, and so does this table). Sources: Linux's
//! `Documentation/devicetree/bindings/serial/*.yaml` and the board DTS files.

use super::packed::{Packed, keys, total_len, values};

/// A UART family hypfw has a driver for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// ARM PrimeCell PL011.
    Pl011,
    /// 8250/16550: registers `1 << shift` bytes apart, accessed `width` bytes at a time, unless
    /// the node's `reg-shift` / `reg-io-width` say otherwise.
    Ns16550 { shift: u8, width: u8 },
    /// Samsung S3C/S5P/Exynos: UFSTAT's "transmit FIFO full" bit, which moved between generations.
    Samsung { tx_full_bit: u8 },
    /// STMicroelectronics STM32 USART of the H7 layout (STM32MP1, STM32MP13): ISR and TDR.
    Stm32,
    /// NXP i.MX (i.MX21 layout, every i.MX since: i.MX6UL/ULL and i.MX7 are Cortex-A7): UTS and UTXD.
    Imx,
}

/// (compatible, family), most specific first within a family. Only the compiler reads this
/// table: the firmware keeps [`NAMES`] and [`FAMILIES`].
const COMPATIBLES: [(&str, Family); 30] = [
    ("arm,pl011", Family::Pl011),
    ("ti,dra742-uart", OMAP),
    ("ti,am4372-uart", OMAP),
    ("ti,am3352-uart", OMAP),
    ("ti,omap4-uart", OMAP),
    ("ti,omap3-uart", OMAP),
    ("ti,omap2-uart", OMAP),
    ("nvidia,tegra210-uart", NS16550),
    ("nvidia,tegra124-uart", NS16550),
    ("nvidia,tegra114-uart", NS16550),
    ("nvidia,tegra30-uart", NS16550),
    ("nvidia,tegra20-uart", NS16550),
    ("snps,dw-apb-uart", NS16550),
    // The Raspberry Pi's "mini UART": a 16550 subset, registers 4 bytes apart, word accesses.
    ("brcm,bcm2835-aux-uart", Family::Ns16550 { shift: 2, width: 4 }),
    ("ns16550a", NS16550),
    ("ns16550", NS16550),
    ("ns16450", NS16550),
    ("ns8250", NS16550),
    ("samsung,exynos5433-uart", SAMSUNG_V5),
    ("samsung,exynos4210-uart", SAMSUNG_V5),
    ("samsung,s5pv210-uart", SAMSUNG_V5),
    ("samsung,s3c6400-uart", Family::Samsung { tx_full_bit: 14 }),
    ("samsung,s3c2440-uart", Family::Samsung { tx_full_bit: 14 }),
    ("samsung,s3c2412-uart", Family::Samsung { tx_full_bit: 14 }),
    ("samsung,s3c2410-uart", Family::Samsung { tx_full_bit: 9 }),
    // STM32MP15x and MP13x (Cortex-A7) use the H7 register layout; the older STM32F4 layout
    // ("st,stm32-uart", status and data at 0x00 and 0x04) is on Cortex-M parts only.
    ("st,stm32h7-uart", Family::Stm32),
    // Every i.MX UART node but i.MX1's lists one of the last two as its fallback.
    ("fsl,imx7d-uart", Family::Imx),
    ("fsl,imx6ul-uart", Family::Imx),
    ("fsl,imx6q-uart", Family::Imx),
    ("fsl,imx21-uart", Family::Imx),
];

const OMAP: Family = Family::Ns16550 { shift: 2, width: 1 };
const NS16550: Family = Family::Ns16550 { shift: 0, width: 1 };
const SAMSUNG_V5: Family = Family::Samsung { tx_full_bit: 24 };

/// Every compatible string of the table, in its order, for a search over the tree.
pub const ALL: [&str; COMPATIBLES.len()] = keys(&COMPATIBLES);

/// The table's strings, packed (no pointer per string: `platform::packed`).
static NAMES: Packed<{ COMPATIBLES.len() }, { total_len(&ALL) }> = Packed::new(ALL);

/// The table's families, in its order.
static FAMILIES: [Family; COMPATIBLES.len()] = values(&COMPATIBLES);

/// The compatible string of table entry `i`.
pub fn name(i: usize) -> Option<&'static str> {
    NAMES.text(i)
}

/// The same, as bytes.
#[inline]
pub fn name_bytes(i: usize) -> Option<&'static [u8]> {
    NAMES.get(i)
}

/// The table entry for a node's `compatible` list (NUL-separated strings): the first of the
/// node's strings that the table knows, so the most specific one wins.
pub fn identify(compatible: &[u8]) -> Option<(usize, Family)> {
    compatible.split(|&b| b == 0).filter(|s| !s.is_empty()).find_map(|s| {
        let i = (0..FAMILIES.len()).find(|&i| NAMES.get(i) == Some(s))?;
        Some((i, FAMILIES[i]))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_packed_names_are_the_table() {
        for (i, &(c, f)) in COMPATIBLES.iter().enumerate() {
            assert_eq!(name(i), Some(c));
            assert_eq!(identify(c.as_bytes()), Some((i, f)));
        }
        assert_eq!(name(COMPATIBLES.len()), None);
    }

    use super::*;

    #[test]
    fn board_consoles_are_identified_with_their_implied_spacing() {
        // BeagleBoard-X15 (am57xx): no reg-shift in the node, 4-byte spacing from the compatible.
        let (i, f) = identify(b"ti,dra742-uart\0ti,omap4-uart\0").unwrap();
        assert_eq!((COMPATIBLES[i].0, f), ("ti,dra742-uart", Family::Ns16550 { shift: 2, width: 1 }));
        // Jetson TK1, Banana Pi, Arndale, vexpress.
        assert_eq!(identify(b"nvidia,tegra124-uart\0nvidia,tegra20-uart\0").unwrap().1, NS16550);
        assert_eq!(identify(b"snps,dw-apb-uart\0").unwrap().1, NS16550);
        assert_eq!(identify(b"samsung,exynos4210-uart\0").unwrap().1, Family::Samsung { tx_full_bit: 24 });
        assert_eq!(identify(b"arm,pl011\0arm,primecell\0").unwrap().1, Family::Pl011);
        // STM32MP157 (its USARTs and UARTs alike).
        assert_eq!(identify(b"st,stm32h7-uart\0").unwrap().1, Family::Stm32);
        assert_eq!(identify(b"st,stm32-uart\0"), None);
        // i.MX7D and i.MX6UL (Cortex-A7), i.MX53 through its fallback; not i.MX1.
        let (i, f) = identify(b"fsl,imx7d-uart\0fsl,imx6q-uart\0").unwrap();
        assert_eq!((COMPATIBLES[i].0, f), ("fsl,imx7d-uart", Family::Imx));
        assert_eq!(identify(b"fsl,imx53-uart\0fsl,imx21-uart\0").unwrap().1, Family::Imx);
        assert_eq!(identify(b"fsl,imx1-uart\0"), None);
        // Raspberry Pi 2's mini UART.
        assert_eq!(identify(b"brcm,bcm2835-aux-uart\0").unwrap().1, Family::Ns16550 { shift: 2, width: 4 });
    }

    #[test]
    fn unknown_and_empty_lists_are_not_consoles() {
        assert_eq!(identify(b"fsl,imx1-uart\0"), None);
        assert_eq!(identify(b""), None);
        assert_eq!(identify(b"\0\0"), None);
    }
}
