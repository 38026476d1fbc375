//! Ogg Opus recordings read back: pages well formed (capture pattern,
//! CRC, sequence, first and last flags, granule positions), RFC 7845
//! headers, and the audio decoded to the input's length with each
//! channel's tone where it was.

use media::oggopus::encode_stereo_8k;

/// The pages of an Ogg stream: (flags, granule, sequence, packets).
fn pages(mut b: &[u8]) -> Vec<(u8, u64, u32, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        assert_eq!(&b[..4], b"OggS");
        let flags = b[5];
        let granule = u64::from_le_bytes(b[6..14].try_into().expect("8 bytes"));
        let seq = u32::from_le_bytes(b[18..22].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(b[22..26].try_into().expect("4 bytes"));
        let nseg = usize::from(b[26]);
        let lacing = &b[27..27 + nseg];
        let len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let page = &b[..27 + nseg + len];
        let mut zeroed = page.to_vec();
        zeroed[22..26].fill(0);
        assert_eq!(ogg_crc(&zeroed), crc, "page {seq}: CRC");
        let mut packets = Vec::new();
        let mut cur = Vec::new();
        let mut at = 27 + nseg;
        for &l in lacing {
            cur.extend_from_slice(&page[at..at + usize::from(l)]);
            at += usize::from(l);
            if l < 255 {
                packets.push(std::mem::take(&mut cur));
            }
        }
        assert!(cur.is_empty(), "every packet ends on its page");
        out.push((flags, granule, seq, packets));
        b = &b[page.len()..];
    }
    out
}

fn ogg_crc(data: &[u8]) -> u32 {
    let mut c = 0u32;
    for &byte in data {
        c ^= u32::from(byte) << 24;
        for _ in 0..8 {
            c = if c & 0x8000_0000 != 0 { (c << 1) ^ 0x04c1_1db7 } else { c << 1 };
        }
    }
    c
}

fn power(x: &[i16], freq: f64) -> f64 {
    testkit::audio::power(x, freq, 8000.0)
}

#[test]
fn a_stereo_recording_reads_back_with_its_tones_and_length() {
    // 2.37 s (not a whole number of frames): 440 Hz left, 1000 Hz right.
    let frames = 18_960usize;
    let mut pcm = Vec::with_capacity(frames * 2);
    for n in 0..frames {
        let t = n as f64 / 8000.0;
        pcm.push((8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16);
        pcm.push((8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16);
    }
    let mut file = Vec::new();
    encode_stereo_8k(&pcm, 77, &mut file).expect("encoded");
    assert!(file.len() < pcm.len() * 2 / 5, "much smaller than the WAV: {} bytes", file.len());
    let p = pages(&file);
    assert_eq!(p[0].0, 0x02, "first page flagged");
    assert_eq!(p.last().map(|x| x.0), Some(0x04), "last page flagged");
    assert!(p.iter().enumerate().all(|(i, x)| x.2 == i as u32), "page sequence");
    let head = &p[0].3[0];
    assert_eq!(&head[..8], b"OpusHead");
    assert_eq!((head[8], head[9]), (1, 2), "version 1, stereo");
    let pre_skip = u64::from(u16::from_le_bytes([head[10], head[11]]));
    assert_eq!(u32::from_le_bytes(head[12..16].try_into().expect("4")), 8000);
    assert_eq!(&p[1].3[0][..8], b"OpusTags");
    let granules: Vec<u64> = p[2..].iter().map(|x| x.1).collect();
    assert!(granules.windows(2).all(|w| w[0] < w[1]), "granules grow: {granules:?}");
    assert_eq!(*granules.last().expect("audio pages"), pre_skip + frames as u64 * 6, "the last granule trims to the input's length");
    // Decode at 8 kHz; drop the pre-skip, keep the granule's length.
    let mut dec = opus::Decoder::new(8000, opus::Channels::Stereo).expect("decoder");
    let mut out = Vec::new();
    let mut buf = [0i16; 5760 * 2];
    for pk in p[2..].iter().flat_map(|x| &x.3) {
        let n = dec.decode(pk, &mut buf, false).expect("decodes");
        out.extend_from_slice(&buf[..n * 2]);
    }
    let skip = (pre_skip / 6) as usize * 2;
    let out = &out[skip..skip + frames * 2];
    let (l, r): (Vec<i16>, Vec<i16>) = (out.iter().step_by(2).copied().collect(), out.iter().skip(1).step_by(2).copied().collect());
    let mid = |x: &[i16]| x[4000..16000].to_vec();
    assert!(power(&mid(&l), 440.0) > 100.0 * power(&mid(&l), 1000.0), "440 Hz on the left");
    assert!(power(&mid(&r), 1000.0) > 100.0 * power(&mid(&r), 440.0), "1000 Hz on the right");
}

#[test]
fn an_empty_recording_is_still_a_valid_file() {
    let mut file = Vec::new();
    encode_stereo_8k(&[], 1, &mut file).expect("encoded");
    let p = pages(&file);
    assert_eq!(p.len(), 3, "headers and one last page");
    assert_eq!(p[2].0, 0x04);
}

/// A 16 kHz recording: the header says so, granules count 3 per sample,
/// and a 6 kHz tone (beyond 8 kHz's band) comes back.
#[test]
fn a_16_khz_recording_keeps_its_band() {
    let frames = 16_000usize;
    let mut bytes = Vec::with_capacity(frames * 4);
    for n in 0..frames {
        let t = n as f64 / 16000.0;
        bytes.extend_from_slice(&((8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16).to_le_bytes());
        bytes.extend_from_slice(&((8000.0 * (2.0 * std::f64::consts::PI * 6000.0 * t).sin()) as i16).to_le_bytes());
    }
    let mut file = Vec::new();
    media::oggopus::encode_stereo_from(&bytes[..], frames as u64, 16000, 9, &mut file).expect("encoded");
    let p = pages(&file);
    let head = &p[0].3[0];
    assert_eq!(u32::from_le_bytes(head[12..16].try_into().expect("4")), 16000);
    let pre_skip = u64::from(u16::from_le_bytes([head[10], head[11]]));
    assert_eq!(p.last().map(|x| x.1), Some(pre_skip + frames as u64 * 3));
    let mut dec = opus::Decoder::new(16000, opus::Channels::Stereo).expect("decoder");
    let mut out = Vec::new();
    let mut buf = [0i16; 5760 * 2];
    for pk in p[2..].iter().flat_map(|x| &x.3) {
        let n = dec.decode(pk, &mut buf, false).expect("decodes");
        out.extend_from_slice(&buf[..n * 2]);
    }
    let r: Vec<i16> = out.iter().skip(1).step_by(2).copied().skip(4000).take(8000).collect();
    let p16 = |x: &[i16], f: f64| testkit::audio::power(x, f, 16_000.0);
    assert!(p16(&r, 6000.0) > 100.0 * p16(&r, 440.0).max(1e-3), "6 kHz on the right");
}
