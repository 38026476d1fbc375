//! # media
//!
//! Sans-IO media building blocks: no sockets, no clock (time is passed in
//! as `now`), no files (bytes come out of `poll_*`).
//!
//! * [`rtp`]: RTP fixed-header parsing (RFC 3550 §5.1), bounded and total:
//!   any input gives a header or an error, never a panic.
//! * [`g711`]: μ-law and A-law (ITU-T G.711) both ways.
//! * [`recorder`]: a stereo call recorder (caller left, callee right) that
//!   places each packet's samples by its RTP timestamp, anchored to wall
//!   time at the first packet of each stream, so silence, gaps and late
//!   streams keep their length and both channels stay aligned: recordings
//!   neither speed up nor drop silence or early media.
//! * [`wav`]: the RIFF/WAVE header for 16-bit PCM.
//! * [`stats`]: per-stream RTP receive statistics (loss, jitter; RFC 3550 A.1, A.8).
//! * [`dtmf`]: RFC 4733 telephone events to digits (each once), SIP INFO digits;
//!   [`inband`]: DTMF tones in the audio (Goertzel, Q.24 limits).
//! * [`codec`]: the codecs the engine transcodes (G.711, Opus through
//!   libopus), decoding to and encoding from 8 kHz PCM, with loss concealment.
//! * [`jitter`]: an adaptive jitter buffer (reordering, loss, bounded delay).
//! * [`transcode`]: one direction of a transcoded call, jitter buffer to
//!   encoder, with ptime translation and telephone events passed across.
//! * [`player`]: tones and prompts as G.711 RTP; [`prompt`]: audio files
//!   decoded (symphonia) and resampled to 8 kHz mono once.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
pub mod dtmf;
pub mod g711;
pub mod g722;
pub mod inband;
pub mod jitter;
pub mod oggopus;
pub mod player;
pub mod prompt;
pub mod recorder;
pub mod rtcp;
pub mod rtp;
pub mod stats;
pub mod tone;
pub mod transcode;
pub mod wav;

pub use recorder::{Recorder, Side};
pub use player::{Player, PromptPlayer};
pub use tone::{ToneGen, ToneSpec};
