//! G.711 μ-law and A-law (ITU-T G.711), as the classic reference
//! implementations compute them (sign-magnitude segments, bias 0x84 for μ-law).

/// The decoding table of a G.711 payload type (0: μ-law, 8: A-law): for
/// loops over a payload, indexed by each byte.
pub fn table(payload_type: u8) -> Option<&'static [i16; 256]> {
    match payload_type {
        0 => Some(&ULAW),
        8 => Some(&ALAW),
        _ => None,
    }
}

/// μ-law byte to 16-bit linear (a table lookup: decoding runs for every
/// sample the recorder, the in-band detector and the transcoder take).
pub fn ulaw_to_linear(u: u8) -> i16 {
    ULAW[usize::from(u)]
}

const fn ulaw_compute(u: u8) -> i16 {
    let u = !u;
    let t = ((((u & 0x0f) as i32) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

static ULAW: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_compute(i as u8);
        i += 1;
    }
    t
};

static ALAW: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_compute(i as u8);
        i += 1;
    }
    t
};

/// 16-bit linear to μ-law (a table lookup: the transcoder encodes 8,000
/// samples a second per direction).
pub fn linear_to_ulaw(pcm: i16) -> u8 {
    ULAW_ENC[usize::from(pcm as u16)]
}

/// 16-bit linear to A-law (a table lookup).
pub fn linear_to_alaw(pcm: i16) -> u8 {
    ALAW_ENC[usize::from(pcm as u16)]
}

/// Encoding tables, indexed by the sample's bits as `u16` (64 KiB each).
static ULAW_ENC: [u8; 65536] = {
    let mut t = [0u8; 65536];
    let mut i = 0;
    while i < 65536 {
        t[i] = ulaw_encode(i as u16 as i16);
        i += 1;
    }
    t
};

static ALAW_ENC: [u8; 65536] = {
    let mut t = [0u8; 65536];
    let mut i = 0;
    while i < 65536 {
        t[i] = alaw_encode(i as u16 as i16);
        i += 1;
    }
    t
};

const fn ulaw_encode(pcm: i16) -> u8 {
    const CLIP: i32 = 32635;
    let mut s = pcm as i32;
    let sign: i32 = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = if s < CLIP { s } else { CLIP } + 0x84;
    let mut exp = 7;
    let mut mask = 0x4000;
    while exp > 0 && s & mask == 0 {
        exp -= 1;
        mask >>= 1;
    }
    let mant = (s >> (exp + 3)) & 0x0f;
    !((sign | (exp << 4) | mant) as u8)
}

/// A-law byte to 16-bit linear (a table lookup).
pub fn alaw_to_linear(a: u8) -> i16 {
    ALAW[usize::from(a)]
}

const fn alaw_compute(a: u8) -> i16 {
    let a = a ^ 0x55;
    let mut t = ((a & 0x0f) as i32) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn alaw_encode(pcm: i16) -> u8 {
    let mut s = pcm as i32;
    let mask = if s >= 0 {
        0xd5
    } else {
        s = -s - 1;
        0x55
    };
    let s = if s < 32767 { s } else { 32767 };
    let seg = match s {
        0..=0xff => 0,
        0x100..=0x1ff => 1,
        0x200..=0x3ff => 2,
        0x400..=0x7ff => 3,
        0x800..=0xfff => 4,
        0x1000..=0x1fff => 5,
        0x2000..=0x3fff => 6,
        _ => 7,
    };
    let aval = (seg << 4) | if seg < 2 { (s >> 4) & 0x0f } else { (s >> (seg + 3)) & 0x0f };
    (aval as u8) ^ mask
}

/// A G.711 law: the encoding of a G.711 recording, or of a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Law {
    /// μ-law (PCMU, payload type 0; WAV format 7).
    Mulaw,
    /// A-law (PCMA, payload type 8; WAV format 6).
    Alaw,
}

impl Law {
    /// The law of a G.711 payload type.
    pub fn of(payload_type: u8) -> Option<Law> {
        match payload_type {
            0 => Some(Law::Mulaw),
            8 => Some(Law::Alaw),
            _ => None,
        }
    }

    /// The byte of digital silence (linear 0).
    pub const fn silence(self) -> u8 {
        match self {
            Law::Mulaw => ulaw_encode(0),
            Law::Alaw => alaw_encode(0),
        }
    }

    /// A linear sample in this law.
    pub fn encode(self, pcm: i16) -> u8 {
        match self {
            Law::Mulaw => linear_to_ulaw(pcm),
            Law::Alaw => linear_to_alaw(pcm),
        }
    }

    /// The decoding table of this law: for loops over many bytes.
    pub fn table(self) -> &'static [i16; 256] {
        match self {
            Law::Mulaw => &ULAW,
            Law::Alaw => &ALAW,
        }
    }

    /// A byte of this law, linear.
    pub fn decode(self, b: u8) -> i16 {
        match self {
            Law::Mulaw => ulaw_to_linear(b),
            Law::Alaw => alaw_to_linear(b),
        }
    }

    /// A byte of the other law, in this one (by way of its linear value,
    /// as G.711's own conversion tables do).
    pub fn convert(self, other: u8) -> u8 {
        match self {
            Law::Mulaw => A_TO_U[usize::from(other)],
            Law::Alaw => U_TO_A[usize::from(other)],
        }
    }
}

/// Each byte of one law in the other, by way of its linear value.
const fn law_to_law(to_ulaw: bool) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if to_ulaw { ulaw_encode(alaw_compute(i as u8)) } else { alaw_encode(ulaw_compute(i as u8)) };
        i += 1;
    }
    t
}

static A_TO_U: [u8; 256] = law_to_law(true);
static U_TO_A: [u8; 256] = law_to_law(false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Silence codes and full scale of both laws.
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x7f), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
        assert_eq!(linear_to_ulaw(0), 0xff);
        assert_eq!(linear_to_alaw(0), 0xd5);
    }

    #[test]
    fn laws_convert_through_their_linear_values() {
        assert_eq!((Law::Mulaw.silence(), Law::Alaw.silence()), (0xff, 0xd5));
        assert_eq!(Law::of(0), Some(Law::Mulaw));
        assert_eq!(Law::of(8), Some(Law::Alaw));
        assert_eq!(Law::of(9), None);
        for c in 0..=255u8 {
            assert_eq!(Law::Mulaw.convert(c), linear_to_ulaw(alaw_to_linear(c)), "A {c:#x} to μ");
            assert_eq!(Law::Alaw.convert(c), linear_to_alaw(ulaw_to_linear(c)), "μ {c:#x} to A");
            // Close to the value it came from: within one step of the
            // coarser law at that level (an eighth of it, and 8 near 0).
            let (a, u) = (alaw_to_linear(c), ulaw_to_linear(Law::Mulaw.convert(c)));
            assert!(i32::from(a).abs_diff(i32::from(u)) <= (i32::from(a).unsigned_abs() / 8).max(8), "{a} vs {u}");
            assert_eq!(Law::Alaw.decode(Law::Alaw.encode(a)), a);
        }
    }

    #[test]
    fn every_code_survives_decode_encode() {
        for c in 0..=255u8 {
            // μ-law has two zeros (0x7f, 0xff); both decode to 0, which encodes to 0xff.
            let back = linear_to_ulaw(ulaw_to_linear(c));
            assert!(back == c || (ulaw_to_linear(c) == 0 && back == 0xff), "ulaw {c:#x} -> {back:#x}");
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "alaw {c:#x}");
        }
    }

    #[test]
    fn encoding_error_is_within_the_segment_step() {
        for s in (-32768i32..=32767).step_by(7) {
            let s = s as i16;
            let u = i32::from(ulaw_to_linear(linear_to_ulaw(s)));
            let a = i32::from(alaw_to_linear(linear_to_alaw(s)));
            // Half a quantisation step: about 1/32 of the magnitude.
            let tol = (i32::from(s).abs() + 256) / 16 + 16;
            assert!((u - i32::from(s)).abs() <= tol, "ulaw {s} -> {u}");
            assert!((a - i32::from(s)).abs() <= tol, "alaw {s} -> {a}");
        }
    }
}
