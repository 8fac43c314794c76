//! The statistics `compare` needs, dependency-free and deterministic: medians, a seeded
//! bootstrap of the relative change of medians (and of a ratio of medians), the
//! Mann-Whitney U rank test (exact without ties for small samples, else the normal
//! approximation with tie and continuity correction, as scipy's `mannwhitneyu` does), and the
//! Wilcoxon signed-rank test for paired differences (exact without ties or zeros up to 50
//! pairs, else the normal approximation with tie correction, as scipy's `wilcoxon` does).

/// Median of a non-empty slice (mean of the two middle values for an even length).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Linear-interpolated percentile (`q` in 0..=1) of a sorted slice.
fn percentile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// The bootstrap's seeded generator: every report is reproducible.
pub use crate::rng::SplitMix64 as Rng;

/// Seed derived from a benchmark id (FNV-1a), so each benchmark's bootstrap is stable.
pub fn seed_for(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn resampled_median(xs: &[f64], rng: &mut Rng, buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend((0..xs.len()).map(|_| xs[rng.index(xs.len())]));
    median(buf)
}

/// A point estimate with its 95 % percentile-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    pub point: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Bootstrap over `resamples` draws of `stat`, which gets one resampled median per input set.
pub fn bootstrap(
    sets: &[&[f64]],
    resamples: usize,
    seed: u64,
    stat: impl Fn(&[f64]) -> f64,
) -> Interval {
    let meds: Vec<f64> = sets.iter().map(|s| median(s)).collect();
    let point = stat(&meds);
    let mut rng = Rng::new(seed);
    let mut buf = Vec::new();
    let mut m = vec![0.0; sets.len()];
    let mut draws: Vec<f64> = (0..resamples)
        .map(|_| {
            for (slot, s) in m.iter_mut().zip(sets) {
                *slot = resampled_median(s, &mut rng, &mut buf);
            }
            stat(&m)
        })
        .filter(|x| x.is_finite())
        .collect();
    draws.sort_by(|a, b| a.total_cmp(b));
    if draws.is_empty() {
        return Interval {
            point,
            lower: f64::NAN,
            upper: f64::NAN,
        };
    }
    Interval {
        point,
        lower: percentile_sorted(&draws, 0.025),
        upper: percentile_sorted(&draws, 0.975),
    }
}

/// Relative change of the median, `median(new) / median(base) - 1`, with its bootstrap CI.
pub fn median_change(base: &[f64], new: &[f64], seed: u64) -> Interval {
    bootstrap(&[base, new], 2000, seed, |m| m[1] / m[0] - 1.0)
}

/// Two-sided Mann-Whitney U test of `x` vs `y`: returns (U of x, p value).
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> (f64, f64) {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 {
        return (f64::NAN, 1.0);
    }
    let mut all: Vec<(f64, usize)> = x
        .iter()
        .map(|&v| (v, 0))
        .chain(y.iter().map(|&v| (v, 1)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let mut ranks = vec![0.0; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        ranks[i..=j].iter_mut().for_each(|x| *x = r);
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let r1: f64 = all
        .iter()
        .zip(&ranks)
        .filter(|(a, _)| a.1 == 0)
        .map(|(_, r)| r)
        .sum();
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let (f1, f2) = (n1 as f64, n2 as f64);
    let p = if tie_term == 0.0 && n1 <= 50 && n2 <= 50 {
        exact_p(n1, n2, u1)
    } else {
        let mu = f1 * f2 / 2.0;
        let nf = n as f64;
        let var = f1 * f2 / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
        if var <= 0.0 {
            1.0
        } else {
            let z = ((u1 - mu).abs() - 0.5).max(0.0) / var.sqrt();
            (2.0 * normal_sf(z)).min(1.0)
        }
    };
    (u1, p)
}

/// Two-sided Wilcoxon signed-rank test that the differences `d` are centred on zero: returns
/// (W+, the sum of the ranks of the positive differences, p value). Zero differences are
/// dropped (Wilcoxon's rule); no non-zero difference gives p = 1.
pub fn signed_rank(d: &[f64]) -> (f64, f64) {
    let mut v: Vec<f64> = d.iter().copied().filter(|x| *x != 0.0).collect();
    let n = v.len();
    if n == 0 {
        return (0.0, 1.0);
    }
    v.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let (mut w_plus, mut tie_term, mut i) = (0.0, 0.0, 0);
    while i < n {
        let mut j = i;
        while j + 1 < n && v[j + 1].abs() == v[i].abs() {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        w_plus += rank * v[i..=j].iter().filter(|x| **x > 0.0).count() as f64;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let nf = n as f64;
    let p = if tie_term == 0.0 && n <= 50 {
        // counts[w]: subsets of the ranks 1..=n summing to w (each sign pattern is equally
        // likely under the null).
        let max_w = n * (n + 1) / 2;
        let mut counts = vec![0.0f64; max_w + 1];
        counts[0] = 1.0;
        for r in 1..=n {
            for w in (r..=max_w).rev() {
                counts[w] += counts[w - r];
            }
        }
        let total = 2f64.powi(n as i32);
        let w = w_plus.round() as usize;
        let lower: f64 = counts[..=w].iter().sum();
        let upper: f64 = counts[w..].iter().sum();
        (2.0 * lower.min(upper) / total).min(1.0)
    } else {
        let mu = nf * (nf + 1.0) / 4.0;
        let var = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tie_term / 48.0;
        if var <= 0.0 {
            1.0
        } else {
            (2.0 * normal_sf((w_plus - mu).abs() / var.sqrt())).min(1.0)
        }
    };
    (w_plus, p)
}

/// Exact two-sided p of U without ties: counts of arrangements by U (dynamic programming).
fn exact_p(n1: usize, n2: usize, u: f64) -> f64 {
    let max_u = n1 * n2;
    // counts[a][b][u] built incrementally over a with rolling tables over b.
    let mut prev: Vec<Vec<f64>> = (0..=n2).map(|_| vec![0.0; max_u + 1]).collect();
    for row in prev.iter_mut() {
        row[0] = 1.0; // a = 0: one arrangement, U = 0
    }
    for a in 1..=n1 {
        let mut cur: Vec<Vec<f64>> = (0..=n2).map(|_| vec![0.0; max_u + 1]).collect();
        cur[0][0] = 1.0;
        for b in 1..=n2 {
            for k in 0..=a * b {
                // Last element is an x (contributes b to U) or a y (contributes 0).
                let from_x = if k >= b { prev[b][k - b] } else { 0.0 };
                cur[b][k] = from_x + cur[b - 1][k];
            }
        }
        prev = cur;
    }
    let counts = &prev[n2];
    let total: f64 = counts.iter().sum();
    let u_small = u.min(max_u as f64 - u).floor() as usize;
    let tail: f64 = counts[..=u_small].iter().sum();
    (2.0 * tail / total).min(1.0)
}

/// Upper tail of the standard normal, via erfc (W. J. Cody-style rational fit, |err| < 1.2e-7).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    // Numerical Recipes' erfcc (Chebyshev), fractional error < 1.2e-7.
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn mwu_exact_known_values() {
        // scipy.stats.mannwhitneyu([1,2,3],[4,5,6]) -> U=0, p=0.1 (exact: 2/C(6,3)).
        let (u, p) = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        assert_eq!(u, 0.0);
        assert!((p - 0.1).abs() < 1e-12, "{p}");
        // Complete separation of 10 vs 10: p = 2 / C(20,10) = 2/184756.
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let y: Vec<f64> = (10..20).map(f64::from).collect();
        let (u, p) = mann_whitney_u(&y, &x);
        assert_eq!(u, 100.0);
        assert!((p - 2.0 / 184_756.0).abs() < 1e-15, "{p}");
        // Interleaved: [1,3,5] vs [2,4,6] -> U=3; counts of U=0..9 are 1,1,2,3,3,3,3,2,1,1,
        // P(U<=3) = 7/20 -> two-sided p = 0.7 (scipy: 0.7).
        let (u, p) = mann_whitney_u(&[1.0, 3.0, 5.0], &[2.0, 4.0, 6.0]);
        assert_eq!(u, 3.0);
        assert!((p - 0.7).abs() < 1e-12, "{p}");
        // [1,2,4] vs [3,5,6]: U=1, counts U<=1 are 2 of 20 -> p = 0.2.
        let (u, p) = mann_whitney_u(&[1.0, 2.0, 4.0], &[3.0, 5.0, 6.0]);
        assert_eq!(u, 1.0);
        assert!((p - 0.2).abs() < 1e-12, "{p}");
    }

    #[test]
    fn mwu_normal_approximation_with_ties() {
        // x=[1,2,2,3], y=[2,3,4,5]: ranks 1,3,3,5.5 | 3,5.5,7,8 -> R1=12.5, U=2.5.
        // Ties: {2,2,2} t=3 -> 24, {3,3} t=2 -> 6; var = 16/12*(9 - 30/56) = 11.2857.
        // z = (|2.5-8| - 0.5)/sqrt(var) = 5/3.3594 = 1.4884 -> p = 2*sf(z) = 0.13664.
        let (u, p) = mann_whitney_u(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 4.0, 5.0]);
        assert_eq!(u, 2.5);
        assert!((p - 0.136_64).abs() < 2e-4, "{p}");
    }

    #[test]
    fn signed_rank_known_values() {
        // scipy.stats.wilcoxon([1,2,3,4,5]) -> W+ = 15, exact two-sided p = 2/32 = 0.0625.
        let (w, p) = signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(w, 15.0);
        assert!((p - 0.0625).abs() < 1e-12, "{p}");
        // Ten positive differences: p = 2/1024.
        let d: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!((signed_rank(&d).1 - 2.0 / 1024.0).abs() < 1e-12);
        // [-1, 2, 3, -4, 5, 6]: W+ = 2+3+5+6 = 16 of 21; P(W+ >= 16) = 10/64 -> p = 0.3125
        // (scipy: 0.3125).
        let (w, p) = signed_rank(&[-1.0, 2.0, 3.0, -4.0, 5.0, 6.0]);
        assert_eq!(w, 16.0);
        assert!((p - 0.3125).abs() < 1e-12, "{p}");
        // Symmetric: the sign of the shift does not matter.
        assert_eq!(
            signed_rank(&[-1.0, -2.0, -3.0, -4.0, -5.0]).1,
            signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0]).1
        );
        // Zeros are dropped; none left: p = 1.
        assert_eq!(signed_rank(&[0.0, 0.0]), (0.0, 1.0));
        assert_eq!(signed_rank(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).1, 0.0625);
        // Ties (|1| twice): the normal approximation, W+ = 1.5 + 3 + 4 = 8.5 of 10,
        // var = 4*5*9/24 - 6/48 = 7.375, z = (8.5 - 5)/2.7157 = 1.289 (scipy: p = 0.197).
        let (w, p) = signed_rank(&[1.0, -1.0, 3.0, 4.0]);
        assert_eq!(w, 8.5);
        let z: f64 = (8.5 - 5.0) / 7.375f64.sqrt();
        assert!((p - 2.0 * normal_sf(z)).abs() < 1e-12, "{p}");
        assert!((p - 0.197).abs() < 2e-3, "{p}");
    }

    #[test]
    fn normal_tail_known_values() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_sf(-1.0) - 0.841_344_7).abs() < 1e-6);
    }

    #[test]
    fn bootstrap_change_covers_a_shift() {
        let base: Vec<f64> = (0..20).map(|i| 100.0 + (i % 5) as f64).collect();
        let new: Vec<f64> = base.iter().map(|x| x * 1.3).collect();
        let c = median_change(&base, &new, 7);
        assert!((c.point - 0.3).abs() < 1e-12);
        assert!(c.lower > 0.2 && c.upper < 0.4, "{c:?}");
        // Same seed, same answer.
        assert_eq!(c, median_change(&base, &new, 7));
        // Identical samples: the interval straddles zero.
        let z = median_change(&base, &base, 7);
        assert!(z.lower <= 0.0 && z.upper >= 0.0, "{z:?}");
    }
}
