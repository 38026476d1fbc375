//! What the switch plays into a call: a call-progress tone, or an audio
//! prompt (music on hold, IVR menus, announcements), as 20 ms G.711 RTP
//! packets with continuous sequence numbers and timestamps.
//!
//! Prompts are decoded once ([`crate::prompt::decode`]) and shared
//! between calls as `Arc<[i16]>` (8 kHz mono).

use crate::{g711, rtp, ToneGen};
use std::sync::Arc;

/// Samples per 20 ms packet at 8 kHz.
const FRAME: usize = 160;

/// A source of RTP packets.
pub enum Player {
    /// A generated tone (endless).
    Tone(ToneGen),
    /// A decoded prompt.
    Prompt(PromptPlayer),
}

impl Player {
    /// The next 20 ms packet; `None` once a prompt that does not loop has
    /// played to its end.
    pub fn next_packet(&mut self) -> Option<Vec<u8>> {
        match self {
            Player::Tone(t) => Some(t.next_packet()),
            Player::Prompt(p) => p.next_packet(),
        }
    }
}

impl From<ToneGen> for Player {
    fn from(t: ToneGen) -> Player {
        Player::Tone(t)
    }
}

/// Plays a decoded prompt.
pub struct PromptPlayer {
    samples: Arc<[i16]>,
    pos: usize,
    looped: bool,
    payload_type: u8,
    ssrc: u32,
    seq: u16,
    ts: u32,
    first: bool,
}

impl PromptPlayer {
    /// A player of `samples` (8 kHz mono) in payload type 0 (μ-law) or 8
    /// (A-law), `None` otherwise. `looped`: start over at the end (music on hold).
    pub fn new(samples: Arc<[i16]>, payload_type: u8, ssrc: u32, looped: bool) -> Option<PromptPlayer> {
        matches!(payload_type, 0 | 8).then_some(PromptPlayer { samples, pos: 0, looped, payload_type, ssrc, seq: 1, ts: 0, first: true })
    }

    fn next_packet(&mut self) -> Option<Vec<u8>> {
        if self.samples.is_empty() || (!self.looped && self.pos >= self.samples.len()) {
            return None;
        }
        let mut payload = Vec::with_capacity(FRAME);
        for _ in 0..FRAME {
            if self.pos >= self.samples.len() && self.looped {
                self.pos = 0;
            }
            let v = self.samples.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
            payload.push(if self.payload_type == 8 { g711::linear_to_alaw(v) } else { g711::linear_to_ulaw(v) });
        }
        let p = rtp::build(self.payload_type, self.first, self.seq, self.ts, self.ssrc, &payload);
        self.first = false;
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(FRAME as u32);
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_plays_once_or_loops_with_continuous_headers() {
        let samples: Arc<[i16]> = (0..400).map(|i| (i * 10) as i16).collect::<Vec<_>>().into();
        let mut once = Player::Prompt(PromptPlayer::new(samples.clone(), 0, 7, false).expect("pcmu"));
        let mut n = 0;
        let mut last_seq = 0;
        while let Some(p) = once.next_packet() {
            let h = rtp::parse(&p).expect("rtp");
            assert_eq!((h.payload_type, h.ssrc, h.timestamp), (0, 7, n * 160));
            assert_eq!(h.marker, n == 0);
            last_seq = h.seq;
            n += 1;
        }
        assert_eq!((n, last_seq), (3, 3), "400 samples: three packets, the last padded with silence");
        let mut looped = Player::Prompt(PromptPlayer::new(samples, 8, 7, true).expect("pcma"));
        for _ in 0..100 {
            assert!(looped.next_packet().is_some());
        }
        assert!(PromptPlayer::new(Arc::from(vec![0i16; 10]), 9, 1, false).is_none(), "G.722 is not played");
    }
}
