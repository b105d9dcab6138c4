//! Is a difference larger than the run-to-run noise? Each run's seconds are its samples (one
//! second's p95, request count or failure ratio each); the Mann-Whitney rank test asks whether
//! one run's seconds are systematically above the other's. It assumes no distribution (latency
//! seconds are skewed), and a run with a jittery spell gets a wide spread and so needs a larger
//! shift to count.

/// Two-sided p-value of the Mann-Whitney U test (normal approximation with the tie correction and
/// a continuity correction); None when either side has fewer than `MIN_SAMPLES` values.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<f64> {
    let (n1, n2) = (a.len(), b.len());
    if n1 < MIN_SAMPLES || n2 < MIN_SAMPLES {
        return None;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&v| (v, true))
        .chain(b.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut rank_sum_a = 0.0;
    let mut ties = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let rank = (i + j + 2) as f64 / 2.0;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        rank_sum_a += rank * all[i..=j].iter().filter(|(_, in_a)| *in_a).count() as f64;
        i = j + 1;
    }
    let (n1, n2, n) = (n1 as f64, n2 as f64, n as f64);
    let u = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if variance <= 0.0 {
        // Every value equal on both sides: no difference at all.
        return Some(1.0);
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / variance.sqrt();
    Some(libm::erfc(z / std::f64::consts::SQRT_2).min(1.0))
}

/// How far `b`'s seconds sit above `a`'s: the difference of their medians. A change whose whole-run
/// figure moved one way while the seconds moved the other (a p99.9 judged on the seconds' p99)
/// is not counted.
pub fn shift(a: &[f64], b: &[f64]) -> f64 {
    median(b) - median(a)
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

/// Fewer seconds than this on a side and nothing is judged (a five-second run says little).
pub const MIN_SAMPLES: usize = 5;

#[cfg(test)]
mod tests {
    use super::mann_whitney;

    #[test]
    fn identical_and_shifted_samples() {
        let a: Vec<f64> = (0..30).map(|i| 10.0 + f64::from(i % 7)).collect();
        assert!(mann_whitney(&a, &a).unwrap() > 0.9);
        let shifted: Vec<f64> = a.iter().map(|v| v + 10.0).collect();
        assert!(mann_whitney(&a, &shifted).unwrap() < 1e-6);
        assert_eq!(mann_whitney(&[1.0; 4], &a), None);
        assert_eq!(mann_whitney(&[2.0; 8], &[2.0; 8]), Some(1.0));
        assert_eq!(super::shift(&a, &shifted), 10.0);
        assert_eq!(super::shift(&[1.0, 3.0], &[1.0]), -1.0);
    }

    #[test]
    fn matches_a_worked_example() {
        // By hand: a's ranks 4+6+8+9+10 = 37, U = 22, mean 12.5, sd sqrt(25/12*11) = 4.787,
        // z = (9.5 - 0.5) / 4.787 = 1.880, two-sided p = 0.0601 (scipy's asymptotic mannwhitneyu
        // with continuity gives the same).
        let a = [19.0, 22.0, 16.0, 29.0, 24.0];
        let b = [20.0, 11.0, 17.0, 12.0, 13.0];
        let p = mann_whitney(&a, &b).unwrap();
        assert!((p - 0.0601).abs() < 0.0005, "{p}");
    }
}
