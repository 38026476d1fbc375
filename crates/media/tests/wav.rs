//! WAV headers read back (a recording cut by `kill -9`, finished at the
//! next start): every header we write parses to what it was written
//! from, and any bytes either parse to a header written the same way or
//! to nothing.

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

    #[test]
    fn a_header_with_one_byte_changed_is_not_ours(enc in encoding(), data_len in 0u32..1 << 30, at in 0usize..58, flip in 1u8..=255) {
        let h = header_for(enc, 2, 8000, data_len);
        let mut b = h.bytes().to_vec();
        prop_assume!(at < b.len());
        // The length fields follow from data_len: a change there is another
        // length only if every one of them moved with it, which one byte cannot do
        // (RIFF size, data size and for G.711 the fact chunk all name it).
        b[at] ^= flip;
        prop_assert_eq!(parse_header(&b), None);
    }
}
