//! What a detection search reports: the ROC curve and its area, the detection efficiency at a
//! false-alarm probability (threshold set on the noise-only scores), and that efficiency in
//! bins of injected SNR. AUC and the threshold rule are `ferrograd_train::metrics`'; this
//! module adds the curves.

use ferrograd_train::metrics::{efficiency_at_far, roc_auc};

use crate::error::{GwError, Result};

/// Efficiency at one false-alarm probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FapPoint {
    /// False-alarm probability asked for.
    pub fap: f64,
    /// The score at most `fap · n_noise` noise examples exceed.
    pub threshold: f32,
    /// Fraction of signals scoring above the threshold.
    pub efficiency: f64,
}

/// Signals in one SNR bin and the fraction detected at each false-alarm probability.
#[derive(Clone, Debug, PartialEq)]
pub struct SnrBin {
    pub lo: f64,
    pub hi: f64,
    pub signals: usize,
    /// One value per [`FapPoint`], in the same order; `None` for an empty bin.
    pub efficiency: Vec<Option<f64>>,
}

/// The metrics of one scored test set.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    pub auc: f64,
    pub faps: Vec<FapPoint>,
    pub snr_bins: Vec<SnrBin>,
    /// ROC curve: `(false-alarm probability, efficiency)` at every distinct threshold, from
    /// `(0, 0)` to `(1, 1)`.
    pub roc: Vec<(f64, f64)>,
    pub noise: usize,
    pub signals: usize,
}

/// The metrics of `scores` (higher = more signal-like) for `labels` (`true` = signal) with
/// injected `snr` per example: ROC AUC, efficiency at each of `faps`, and efficiency vs SNR
/// in `bins` equal bins over `snr_range`.
///
/// # Errors
/// [`GwError::Config`] for slices of different lengths, a NaN score, a class missing, a
/// false-alarm probability outside (0, 1), no bins or an empty SNR range.
pub fn metrics(
    scores: &[f32],
    labels: &[bool],
    snr: &[f32],
    faps: &[f64],
    snr_range: (f64, f64),
    bins: usize,
) -> Result<Metrics> {
    if scores.len() != labels.len() || snr.len() != labels.len() {
        return Err(GwError::config(
            "metrics",
            format!(
                "{} scores, {} labels and {} SNRs; one of each per example",
                scores.len(),
                labels.len(),
                snr.len()
            ),
        ));
    }
    let ordered = snr_range.0 < snr_range.1;
    if bins == 0 || !ordered {
        return Err(GwError::config(
            "metrics",
            format!("{bins} SNR bins over {snr_range:?}; need at least one bin over lo < hi"),
        ));
    }
    if let Some(f) = faps.iter().find(|f| !(**f > 0.0 && **f < 1.0)) {
        return Err(GwError::config(
            "metrics",
            format!("false-alarm probability {f} is not in (0, 1)"),
        ));
    }
    let auc = roc_auc(scores, labels).ok_or_else(|| {
        GwError::config(
            "metrics",
            "the test set needs both signals and noise, and finite scores",
        )
    })?;
    let faps: Vec<FapPoint> = faps
        .iter()
        .filter_map(|&fap| {
            efficiency_at_far(scores, labels, fap).map(|(threshold, efficiency)| FapPoint {
                fap,
                threshold,
                efficiency,
            })
        })
        .collect();
    let width = (snr_range.1 - snr_range.0) / bins as f64;
    let snr_bins = (0..bins)
        .map(|b| {
            let lo = snr_range.0 + b as f64 * width;
            let hi = if b + 1 == bins {
                snr_range.1
            } else {
                lo + width
            };
            let in_bin = |i: usize| {
                let s = f64::from(snr[i]);
                labels[i] && s >= lo && (s < hi || (b + 1 == bins && s <= hi))
            };
            let members: Vec<usize> = (0..labels.len()).filter(|&i| in_bin(i)).collect();
            let efficiency = faps
                .iter()
                .map(|p| {
                    (!members.is_empty()).then(|| {
                        members.iter().filter(|&&i| scores[i] > p.threshold).count() as f64
                            / members.len() as f64
                    })
                })
                .collect();
            SnrBin {
                lo,
                hi,
                signals: members.len(),
                efficiency,
            }
        })
        .collect();
    let signals = labels.iter().filter(|&&l| l).count();
    Ok(Metrics {
        auc,
        faps,
        snr_bins,
        roc: roc_curve(scores, labels),
        noise: labels.len() - signals,
        signals,
    })
}

/// `(false-alarm probability, efficiency)` for the rule "score > t" at every distinct score
/// `t` from the highest down, plus the end points `(0, 0)` and `(1, 1)`. Empty if a class is
/// missing.
pub fn roc_curve(scores: &[f32], labels: &[bool]) -> Vec<(f64, f64)> {
    let n_sig = labels.iter().filter(|&&l| l).count();
    let n_noise = labels.len() - n_sig;
    if n_sig == 0 || n_noise == 0 || scores.len() != labels.len() {
        return Vec::new();
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut curve = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < idx.len() {
        // Everything tied with this score passes together.
        let s = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == s {
            if labels[idx[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        curve.push((fp as f64 / n_noise as f64, tp as f64 / n_sig as f64));
    }
    curve
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_curve_by_hand() {
        // scores 0.9 S, 0.8 N, 0.7 S, 0.7 N, 0.1 N
        let s = [0.9, 0.8, 0.7, 0.7, 0.1];
        let l = [true, false, true, false, false];
        let c = roc_curve(&s, &l);
        let third = 1.0 / 3.0;
        assert_eq!(
            c,
            vec![
                (0.0, 0.0),
                (0.0, 0.5),
                (third, 0.5),
                (2.0 * third, 1.0),
                (1.0, 1.0)
            ]
        );
        // Trapezoid area under it = AUC (Mann–Whitney with ties ½):
        // pairs S>N: 0.9 beats 3, 0.7 beats 0.1 and ties 0.7 → (3 + 1.5)/6 = 0.75.
        let area: f64 = c
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
            .sum();
        assert!((area - 0.75).abs() < 1e-12);
        let m = metrics(&s, &l, &[10.0, 0.0, 20.0, 0.0, 0.0], &[0.5], (5.0, 25.0), 2).unwrap();
        assert_eq!(m.auc, 0.75);
        assert!(roc_curve(&s, &[true; 5]).is_empty());
    }

    #[test]
    fn efficiency_at_fap_and_per_snr_bin_by_hand() {
        // 100 noise scores 0.00 … 0.99; signals at SNR 6, 8, 12, 18 with scores 0.5, 0.985,
        // 0.995, 1.0.
        let mut scores: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
        let mut labels = vec![false; 100];
        let mut snr = vec![0.0f32; 100];
        for (sc, sn) in [(0.5, 6.0), (0.985, 8.0), (0.995, 12.0), (1.0, 18.0)] {
            scores.push(sc);
            labels.push(true);
            snr.push(sn);
        }
        let m = metrics(&scores, &labels, &snr, &[1e-2, 2e-2], (4.0, 20.0), 4).unwrap();
        assert_eq!((m.noise, m.signals), (100, 4));
        // FAP 1e-2: at most 1 of 100 noise above → threshold 0.98 (only 0.99 above it):
        // signals 0.985, 0.995, 1.0 pass → 3/4.
        assert_eq!(m.faps[0].threshold, 0.98);
        assert_eq!(m.faps[0].efficiency, 0.75);
        // FAP 2e-2: threshold 0.97, the same three pass.
        assert_eq!(m.faps[1].threshold, 0.97);
        assert_eq!(m.faps[1].efficiency, 0.75);
        // Bins [4,8) [8,12) [12,16) [16,20]: SNR 6 missed; 8, 12, 18 found.
        let eff: Vec<Option<f64>> = m.snr_bins.iter().map(|b| b.efficiency[0]).collect();
        assert_eq!(eff, vec![Some(0.0), Some(1.0), Some(1.0), Some(1.0)]);
        assert_eq!(
            m.snr_bins.iter().map(|b| b.signals).collect::<Vec<_>>(),
            vec![1, 1, 1, 1]
        );
        assert_eq!((m.snr_bins[3].lo, m.snr_bins[3].hi), (16.0, 20.0));
        // AUC: the 0.5 signal beats 50 of 100 noise (ties with 0.50 count ½: 50.5), the
        // others beat 99, 100 and 100 → (50.5 + 99 + 100 + 100) / 400.
        assert!((m.auc - 349.5 / 400.0).abs() < 1e-12, "{}", m.auc);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let ok = metrics(
            &[0.1, 0.9],
            &[false, true],
            &[0.0, 10.0],
            &[0.1],
            (5.0, 15.0),
            2,
        );
        assert!(ok.is_ok());
        assert!(metrics(&[0.1], &[false, true], &[0.0, 1.0], &[0.1], (5.0, 15.0), 2).is_err());
        assert!(metrics(
            &[0.1, 0.9],
            &[true, true],
            &[1.0, 1.0],
            &[0.1],
            (5.0, 15.0),
            2
        )
        .is_err());
        assert!(metrics(
            &[f32::NAN, 0.9],
            &[false, true],
            &[0.0, 1.0],
            &[0.1],
            (5.0, 15.0),
            2
        )
        .is_err());
        assert!(metrics(
            &[0.1, 0.9],
            &[false, true],
            &[0.0, 1.0],
            &[1.0],
            (5.0, 15.0),
            2
        )
        .is_err());
        assert!(metrics(
            &[0.1, 0.9],
            &[false, true],
            &[0.0, 1.0],
            &[0.1],
            (5.0, 5.0),
            2
        )
        .is_err());
        assert!(metrics(
            &[0.1, 0.9],
            &[false, true],
            &[0.0, 1.0],
            &[0.1],
            (5.0, 15.0),
            0
        )
        .is_err());
    }
}
