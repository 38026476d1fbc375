//! Recordings as Opus in Ogg (RFC 7845): a stereo 8 kHz recording is
//! about a tenth of its 16-bit WAV at 24 kbit/s, for operators who keep
//! every call.
//!
//! Our own Ogg page writer (RFC 3533): it is a page header, a lacing table
//! and a CRC, and the alternatives (the `ogg` crate, libogg) bring more
//! than that. The encoder is libopus (the `opus` crate), in its VoIP mode
//! at 8 kHz.
//!
//! The recorder still writes WAV while the call runs (a file the process
//! can be killed over); the switch converts it when the call ends, off the
//! packet path.

use std::io::{self, Write};

/// Samples per channel in one 20 ms frame at 8 kHz.
const FRAME: usize = 160;
/// Bit rate of stereo speech (granule positions count 48 kHz samples
/// whatever the input's rate).
const BITRATE: i32 = 24_000;
/// The same at 16 kHz.
const BITRATE_16K: i32 = 40_000;
/// Packets gathered on one page (about a second of audio).
const PER_PAGE: usize = 50;

/// The Ogg CRC (polynomial 0x04c11db7, not reflected, no final XOR).
fn crc32(data: &[u8]) -> u32 {
    static TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut r = (i as u32) << 24;
            let mut k = 0;
            while k < 8 {
                r = if r & 0x8000_0000 != 0 { (r << 1) ^ 0x04c1_1db7 } else { r << 1 };
                k += 1;
            }
            t[i] = r;
            i += 1;
        }
        t
    };
    data.iter().fold(0u32, |c, &b| (c << 8) ^ TABLE[usize::from((c >> 24) as u8 ^ b)])
}

/// Writes one logical Ogg stream, a page at a time.
struct OggWriter<W: Write> {
    out: W,
    serial: u32,
    seq: u32,
}

impl<W: Write> OggWriter<W> {
    /// One page holding `packets` whole (each ends on it), with the
    /// granule position of its last packet. `flags`: 0x02 first page,
    /// 0x04 last page.
    fn page(&mut self, packets: &[Vec<u8>], granule: u64, flags: u8) -> io::Result<()> {
        let mut lacing = Vec::new();
        for p in packets {
            lacing.extend(std::iter::repeat_n(255u8, p.len() / 255));
            lacing.push((p.len() % 255) as u8);
        }
        if lacing.len() > 255 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many segments for one Ogg page"));
        }
        let mut page = Vec::with_capacity(27 + lacing.len() + packets.iter().map(Vec::len).sum::<usize>());
        page.extend_from_slice(b"OggS");
        page.push(0);
        page.push(flags);
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&self.serial.to_le_bytes());
        page.extend_from_slice(&self.seq.to_le_bytes());
        page.extend_from_slice(&[0; 4]);
        page.push(lacing.len() as u8);
        page.extend_from_slice(&lacing);
        for p in packets {
            page.extend_from_slice(p);
        }
        let crc = crc32(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        self.seq += 1;
        self.out.write_all(&page)
    }
}

/// Encode interleaved stereo 16-bit PCM at 8 kHz (`frames` left/right
/// pairs, as the recorder writes them) into an Ogg Opus file on `out`.
/// `serial` names the logical stream. The file decodes to exactly the
/// input's length (the last frame's padding is trimmed by the final
/// granule position).
pub fn encode_stereo_8k(pcm: &[i16], serial: u32, out: impl Write) -> io::Result<()> {
    let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    encode_stereo_8k_from(&bytes[..], (pcm.len() / 2) as u64, serial, out)
}

/// [`encode_stereo_8k`] reading the PCM (little-endian, as in a WAV's
/// data) from `pcm`, `frames` frames of it, a 20 ms frame at a time: a
/// long recording is never held in memory whole.
pub fn encode_stereo_8k_from(pcm: impl io::Read, frames: u64, serial: u32, out: impl Write) -> io::Result<()> {
    encode_stereo_from(pcm, frames, 8000, serial, out)
}

/// [`encode_stereo_8k_from`] for PCM at `rate` (8000 or 16000 Hz: the
/// recorder's rates; libopus takes either).
pub fn encode_stereo_from(mut pcm: impl io::Read, frames: u64, rate: u32, serial: u32, out: impl Write) -> io::Result<()> {
    let err = |e: opus::Error| io::Error::other(e.to_string());
    let rate = if rate >= 16000 { 16000 } else { 8000 };
    let to_48k = u64::from(48000 / rate);
    let frame_len = FRAME * (rate / 8000) as usize;
    let mut enc = opus::Encoder::new(rate, opus::Channels::Stereo, opus::Application::Voip).map_err(err)?;
    // Wideband needs more bits to stay wideband (libopus picks its band
    // from the bit rate).
    enc.set_bitrate(opus::Bitrate::Bits(if rate == 16000 { BITRATE_16K } else { BITRATE })).map_err(err)?;
    // Encoder delay, in 48 kHz samples: the decoder skips it.
    let pre_skip = u64::try_from(enc.get_lookahead().map_err(err)?).unwrap_or(0) * to_48k;
    let mut w = OggWriter { out, serial, seq: 0 };
    let mut head = b"OpusHead".to_vec();
    head.push(1); // version
    head.push(2); // channels
    head.extend_from_slice(&(pre_skip as u16).to_le_bytes());
    head.extend_from_slice(&rate.to_le_bytes()); // the input's rate
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // mapping family 0: mono or stereo
    w.page(&[head], 0, 0x02)?;
    let mut tags = b"OpusTags".to_vec();
    let vendor = b"ferroswitch";
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    w.page(&[tags], 0, 0)?;
    let total = pre_skip + frames * to_48k;
    let chunks = frames.div_ceil(frame_len as u64).max(1);
    let mut page: Vec<Vec<u8>> = Vec::with_capacity(PER_PAGE);
    let mut raw = vec![0u8; frame_len * 4];
    let mut frame = vec![0i16; frame_len * 2];
    let mut buf = [0u8; 1500];
    let mut left = frames;
    for k in 0..chunks {
        // This frame's bytes (the last one padded with silence).
        let n = (left.min(frame_len as u64) as usize) * 4;
        left -= (n / 4) as u64;
        raw.fill(0);
        pcm.read_exact(&mut raw[..n])?;
        for (s, b) in frame.iter_mut().zip(raw.chunks_exact(2)) {
            *s = i16::from_le_bytes([b[0], b[1]]);
        }
        let len = enc.encode(&frame, &mut buf).map_err(err)?;
        page.push(buf[..len].to_vec());
        let last = k + 1 == chunks;
        if page.len() == PER_PAGE || last {
            // The end of this page's last packet, never past the input's end.
            let granule = (pre_skip + (k + 1) * frame_len as u64 * to_48k).min(total);
            w.page(&page, granule, if last { 0x04 } else { 0 })?;
            page.clear();
        }
    }
    w.out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_ogg_reference() {
        // The CRC of "123456789" with Ogg's parameters: CRC-32/POSIX's
        // (cksum: 0x765E7680) without its final XOR.
        assert_eq!(crc32(b"123456789"), 0x89a1_897f);
    }
}
