//! RIFF/WAVE headers: 16-bit little-endian PCM, and G.711 (μ-law, format
//! 7; A-law, format 6: one byte a sample, with the `fact` chunk the format
//! asks of a non-PCM file).

use crate::g711::Law;

/// The encoding of a WAV file's samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// 16-bit little-endian linear PCM.
    Pcm16,
    /// G.711 in the given law, 8 bits a sample.
    G711(Law),
}

impl Encoding {
    /// Bytes of one sample of one channel.
    pub fn sample_bytes(self) -> usize {
        match self {
            Encoding::Pcm16 => 2,
            Encoding::G711(_) => 1,
        }
    }
}

/// A WAV header: 44 bytes for PCM, 58 for G.711.
#[derive(Clone, Copy)]
pub struct Header {
    bytes: [u8; 58],
    len: usize,
}

impl Header {
    /// The header's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The header of a WAV file of `channels` at `rate` holding `data_len`
/// bytes of samples in `enc`. Write it first with `data_len` 0 and rewrite
/// it as the file grows. PCM: `fmt ` of 16 bytes; G.711: `fmt ` of 18
/// (cbSize 0) and the `fact` chunk (samples per channel).
pub fn header_for(enc: Encoding, channels: u16, rate: u32, data_len: u32) -> Header {
    let (tag, fmt_len, fact): (u16, u32, bool) = match enc {
        Encoding::Pcm16 => (1, 16, false),
        Encoding::G711(Law::Alaw) => (6, 18, true),
        Encoding::G711(Law::Mulaw) => (7, 18, true),
    };
    let block = channels * enc.sample_bytes() as u16;
    let mut h = [0u8; 58];
    let mut at = 0;
    let mut put = |b: &[u8]| {
        h[at..at + b.len()].copy_from_slice(b);
        at += b.len();
    };
    let len = 20 + fmt_len as usize + if fact { 12 } else { 0 } + 8;
    put(b"RIFF");
    put(&data_len.saturating_add(len as u32 - 8).to_le_bytes());
    put(b"WAVE");
    put(b"fmt ");
    put(&fmt_len.to_le_bytes());
    put(&tag.to_le_bytes());
    put(&channels.to_le_bytes());
    put(&rate.to_le_bytes());
    put(&(rate * u32::from(block)).to_le_bytes());
    put(&block.to_le_bytes());
    put(&(8 * enc.sample_bytes() as u16).to_le_bytes());
    if fact {
        // cbSize: no extra format bytes.
        put(&0u16.to_le_bytes());
        put(b"fact");
        put(&4u32.to_le_bytes());
        put(&(data_len / u32::from(channels.max(1))).to_le_bytes());
    }
    put(b"data");
    put(&data_len.to_le_bytes());
    Header { bytes: h, len }
}

/// What a header written by [`header_for`] says: read back from a file
/// whose writer may have died (a recording cut by `kill -9`, finished at
/// the next start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The samples' encoding.
    pub enc: Encoding,
    /// Channels.
    pub channels: u16,
    /// Sample rate.
    pub rate: u32,
    /// The header's length: where the samples start.
    pub header_len: usize,
    /// The sample bytes the header names (a file cut short may hold more).
    pub data_len: u32,
}

/// Read back a header [`header_for`] wrote, from the start of `b`: PCM
/// (`fmt ` of 16 bytes, then `data`) or G.711 (`fmt ` of 18, `fact`,
/// `data`), every field as `header_for` makes it from the encoding,
/// channels, rate and data length it names. Anything else (another
/// writer's WAV, a torn or foreign file) is `None`, never a panic: only
/// our own recordings are read back this way.
pub fn parse_header(b: &[u8]) -> Option<Parsed> {
    let u16_at = |i: usize| Some(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]));
    let u32_at = |i: usize| Some(u32::from_le_bytes([*b.get(i)?, *b.get(i + 1)?, *b.get(i + 2)?, *b.get(i + 3)?]));
    let (enc, data_at) = match u16_at(20)? {
        1 => (Encoding::Pcm16, 36),
        6 => (Encoding::G711(Law::Alaw), 50),
        7 => (Encoding::G711(Law::Mulaw), 50),
        _ => return None,
    };
    let (channels, rate, data_len) = (u16_at(22)?, u32_at(24)?, u32_at(data_at + 4)?);
    // Fields derived from these (byte rate, block, bits) must not overflow.
    if channels == 0 || channels > 8 || rate == 0 || rate > 192_000 {
        return None;
    }
    let h = header_for(enc, channels, rate, data_len);
    (b.get(..h.bytes().len()) == Some(h.bytes())).then_some(Parsed { enc, channels, rate, header_len: h.bytes().len(), data_len })
}

/// The samples of a file in `enc`, read from `inner`, as 16-bit linear
/// little-endian PCM: as they are for PCM, each G.711 byte decoded.
pub struct Pcm16Reader<R> {
    inner: R,
    enc: Encoding,
    /// Decoded bytes not yet read: `pcm[at..]`.
    pcm: Vec<u8>,
    at: usize,
}

impl<R: std::io::Read> Pcm16Reader<R> {
    /// A reader of `inner`'s samples (positioned after the header).
    pub fn new(inner: R, enc: Encoding) -> Self {
        Pcm16Reader { inner, enc, pcm: Vec::new(), at: 0 }
    }
}

impl<R: std::io::Read> std::io::Read for Pcm16Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let Encoding::G711(law) = self.enc else {
            return self.inner.read(out);
        };
        if self.at == self.pcm.len() {
            let mut raw = [0u8; 4096];
            let n = self.inner.read(&mut raw)?;
            self.pcm.clear();
            self.pcm.extend(raw[..n].iter().flat_map(|b| law.decode(*b).to_le_bytes()));
            self.at = 0;
        }
        let n = out.len().min(self.pcm.len() - self.at);
        out[..n].copy_from_slice(&self.pcm[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The 44-byte header of a PCM WAV file holding `data_len` bytes of samples.
/// Write it first with `data_len` 0 (or the final length) and rewrite it
/// when the recording is finished.
pub fn header(channels: u16, rate: u32, data_len: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    h.copy_from_slice(header_for(Encoding::Pcm16, channels, rate, data_len).bytes());
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn stereo_8k_header() {
        let h = super::header(2, 8000, 32000);
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes([h[4], h[5], h[6], h[7]]), 32036);
        assert_eq!(u16::from_le_bytes([h[22], h[23]]), 2);
        assert_eq!(u32::from_le_bytes([h[28], h[29], h[30], h[31]]), 32000, "byte rate");
        assert_eq!(u16::from_le_bytes([h[32], h[33]]), 4, "block align");
        assert_eq!(u32::from_le_bytes([h[40], h[41], h[42], h[43]]), 32000);
        assert_eq!((u32::from_le_bytes([h[16], h[17], h[18], h[19]]), u16::from_le_bytes([h[20], h[21]])), (16, 1), "fmt of 16 bytes, PCM");
        assert_eq!(u16::from_le_bytes([h[34], h[35]]), 16, "bits per sample");
        assert_eq!(&h[36..40], b"data");
    }

    #[test]
    fn stereo_mulaw_header_has_fmt_18_and_fact() {
        use super::{header_for, Encoding, Law};
        let h = header_for(Encoding::G711(Law::Mulaw), 2, 8000, 16000);
        let h = h.bytes();
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        assert_eq!(h.len(), 58);
        assert_eq!((&h[0..4], u32_at(4), &h[8..16]), (&b"RIFF"[..], 16050, &b"WAVEfmt "[..]));
        assert_eq!((u32_at(16), u16_at(20), u16_at(22), u32_at(24)), (18, 7, 2, 8000));
        assert_eq!((u32_at(28), u16_at(32), u16_at(34), u16_at(36)), (16000, 2, 8, 0), "byte rate, block, bits, cbSize");
        assert_eq!((&h[38..42], u32_at(42), u32_at(46)), (&b"fact"[..], 4, 8000), "samples per channel");
        assert_eq!((&h[50..54], u32_at(54)), (&b"data"[..], 16000));
        assert_eq!(u16_at(20), 7);
        let a = header_for(Encoding::G711(Law::Alaw), 2, 8000, 0);
        assert_eq!(u16::from_le_bytes([a.bytes()[20], a.bytes()[21]]), 6);
    }

    #[test]
    fn headers_read_back_and_nothing_else_does() {
        use super::{header_for, parse_header, Encoding, Law, Parsed};
        for (enc, len) in [(Encoding::Pcm16, 44), (Encoding::G711(Law::Mulaw), 58), (Encoding::G711(Law::Alaw), 58)] {
            let h = header_for(enc, 2, 8000, 12_345);
            assert_eq!(parse_header(h.bytes()), Some(Parsed { enc, channels: 2, rate: 8000, header_len: len, data_len: 12_345 }));
            // Cut anywhere short of the data length: no header.
            for cut in 0..len {
                assert_eq!(parse_header(&h.bytes()[..cut]), None, "{enc:?} cut at {cut}");
            }
            // Any one byte of the layout changed: not ours.
            for at in [0, 8, 12, 16, 20, 32, 34, len - 8] {
                let mut bad = h.bytes().to_vec();
                bad[at] ^= 0x40;
                assert_eq!(parse_header(&bad), None, "{enc:?} byte {at} changed");
            }
        }
    }

    #[test]
    fn a_g711_file_reads_back_as_16_bit_pcm() {
        use super::{Encoding, Law, Pcm16Reader};
        use std::io::Read;
        let raw: Vec<u8> = (0..10_000u32).map(|i| (i % 256) as u8).collect();
        let mut pcm = Vec::new();
        // Odd-sized reads, across the reader's own blocks.
        let mut r = Pcm16Reader::new(&raw[..], Encoding::G711(Law::Mulaw));
        let mut buf = [0u8; 333];
        loop {
            let n = r.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            pcm.extend_from_slice(&buf[..n]);
        }
        assert_eq!(pcm.len(), 20_000);
        for (b, s) in raw.iter().zip(pcm.chunks_exact(2)) {
            assert_eq!(i16::from_le_bytes([s[0], s[1]]), crate::g711::ulaw_to_linear(*b));
        }
        let mut same = Vec::new();
        Pcm16Reader::new(&raw[..], Encoding::Pcm16).read_to_end(&mut same).expect("read");
        assert_eq!(same, raw);
    }
}
