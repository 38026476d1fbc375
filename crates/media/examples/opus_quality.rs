//! The audio a PCMU caller's speech becomes on an Opus phone, at a given
//! encoder complexity: 8 kHz 16-bit mono in (raw, little-endian), through
//! μ-law (the PCMU leg), then the switch's Opus encoder and a libopus
//! decoder, out as the same raw format. `benches/opus_quality.sh` scores
//! the output against the μ-law input with PESQ (ITU-T P.862).
//!
//! Usage: `[OPUS_BITRATE=bits/s] opus_quality IN.raw OUT.raw COMPLEXITY`
//! (COMPLEXITY `pcmu`: the μ-law leg alone, the reference).

use media::codec::{Codec, Decoder, Encoder};
use media::g711;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output, complexity] = args.as_slice() else {
        return Err("usage: opus_quality IN.raw OUT.raw COMPLEXITY".into());
    };
    let bytes = std::fs::read(input)?;
    let pcm: Vec<i16> = bytes.chunks_exact(2).map(|b| g711::ulaw_to_linear(g711::linear_to_ulaw(i16::from_le_bytes([b[0], b[1]])))).collect();
    let as_bytes = |x: &[i16]| x.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>();
    if complexity == "pcmu" {
        std::fs::write(output, as_bytes(&pcm))?;
        return Ok(());
    }
    let complexity: u8 = complexity.parse()?;
    // Bits per second (0: libopus's own choice).
    let bitrate: u32 = std::env::var("OPUS_BITRATE").ok().map(|v| v.parse()).transpose()?.unwrap_or(media::transcode::OPUS_BITRATE);
    let mut enc = Encoder::with_options(Codec::Opus, complexity, false, bitrate)?;
    let mut dec = Decoder::new(Codec::Opus)?;
    let mut out = Vec::with_capacity(pcm.len());
    let mut packet = Vec::new();
    for frame in pcm.chunks_exact(160) {
        packet.clear();
        enc.encode(frame, &mut packet)?;
        if !dec.decode(&packet, &mut out) {
            return Err("libopus rejected a packet it made".into());
        }
    }
    std::fs::write(output, as_bytes(&out))?;
    Ok(())
}
