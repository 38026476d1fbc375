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

/// `n` samples of white noise at a quarter of full scale, the same for the
/// same `seed` (a linear congruential generator): input on which an
/// encoder spends every bit it is allowed.
pub fn noise(n: usize, seed: u32) -> Vec<i16> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((x >> 16) as i16) / 4
        })
        .collect()
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

    #[test]
    fn noise_is_repeatable_broadband_and_a_quarter_of_full_scale() {
        let x = noise(8000, 7);
        assert_eq!(x, noise(8000, 7));
        assert_ne!(x, noise(8000, 8));
        assert!(x.iter().all(|s| s.unsigned_abs() <= 8192) && x.iter().any(|s| s.unsigned_abs() > 8000));
        // Flat: the mean power of twenty bins low in the band and twenty
        // high in it are alike (one bin alone varies too much).
        let band = |from: f64| (0..20).map(|k| power(&x, from + 37.0 * f64::from(k), 8000.0)).sum::<f64>() / 20.0;
        let (low, high) = (band(200.0), band(2800.0));
        assert!(low / high < 2.5 && high / low < 2.5, "{low} {high}");
    }
}
