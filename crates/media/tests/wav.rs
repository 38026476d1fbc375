//! WAV headers read back (a recording cut by `kill -9`, finished at the
//! next start): every header we write parses to what it was written
//! from, and any bytes either parse to a header written the same way or
//! to nothing, and one byte changed in a header is not ours (but for
//! the G.711 format tag, where μ-law and A-law are one bit apart).

use media::g711::Law;
use media::wav::{header_for, parse_header, Encoding, Parsed};
use proptest::prelude::*;

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![Just(Encoding::Pcm16), Just(Encoding::G711(Law::Mulaw)), Just(Encoding::G711(Law::Alaw))]
}

proptest! {
    #[test]
    fn every_header_we_write_reads_back(enc in encoding(), channels in 1u16..=8, rate in 1u32..=192_000, data_len: u32, tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let h = header_for(enc, channels, rate, data_len);
        let mut file = h.bytes().to_vec();
        // The samples after it do not matter.
        file.extend_from_slice(&tail);
        prop_assert_eq!(parse_header(&file), Some(Parsed { enc, channels, rate, header_len: h.bytes().len(), data_len }));
    }

    #[test]
    fn any_bytes_parse_to_our_own_header_or_to_nothing(b in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Some(p) = parse_header(&b) {
            let again = header_for(p.enc, p.channels, p.rate, p.data_len);
            prop_assert_eq!(again.bytes(), &b[..p.header_len]);
        }
    }
}

proptest! {
    // Every byte of the header, every change of it: 58 × 255 parses a case.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_header_with_one_byte_changed_is_not_ours(enc in encoding(), data_len in 0u32..1 << 30) {
        let h = header_for(enc, 2, 8000, data_len);
        // The length fields follow from data_len: a change there is another
        // length only if every one of them moved with it, which one byte cannot do
        // (RIFF size, data size and for G.711 the fact chunk all name it).
        for at in 0..h.bytes().len() {
            for flip in 1u8..=255 {
                let mut b = h.bytes().to_vec();
                b[at] ^= flip;
                let Some(p) = parse_header(&b) else { continue };
                // The one exception: G.711's format tag, 7 for μ-law and 6
                // for A-law, one bit apart. The same header in the other law
                // is ours.
                let other = match enc {
                    Encoding::G711(Law::Mulaw) => Encoding::G711(Law::Alaw),
                    Encoding::G711(Law::Alaw) => Encoding::G711(Law::Mulaw),
                    Encoding::Pcm16 => return Err(TestCaseError::fail(format!("a 16-bit header with byte {at} changed parsed as {p:?}"))),
                };
                prop_assert_eq!((at, flip), (20, 1));
                prop_assert_eq!(p, Parsed { enc: other, channels: 2, rate: 8000, header_len: h.bytes().len(), data_len });
            }
        }
    }
}
