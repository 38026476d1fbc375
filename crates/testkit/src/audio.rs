//! Audio checks for media tests.

/// Power of `freq` Hz in `x`, sampled at `rate` Hz (the Goertzel filter),
/// normalised by the length squared so blocks of any length compare: a
/// sine of amplitude A at `freq` gives about A²/4. Zero for no samples.
pub fn power(x: &[i16], freq: f64, rate: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let c = 2.0 * (2.0 * std::f64::consts::PI * freq / rate).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f64).powi(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_has_its_power_at_its_frequency_only() {
        let x: Vec<i16> = (0..8000).map(|n| (10_000.0 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(n) / 8000.0).sin()) as i16).collect();
        let p = power(&x, 1000.0, 8000.0);
        assert!((p - 2.5e7).abs() < 0.05 * 2.5e7, "A²/4: {p}");
        assert!(power(&x, 1500.0, 8000.0) < p / 10_000.0);
        assert_eq!(power(&[], 1000.0, 8000.0), 0.0);
    }
}
