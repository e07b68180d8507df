//! Evaluation metrics: classification accuracy, ROC AUC and detection efficiency at a fixed
//! false-alarm rate (for the GW signal-vs-noise classifier).

/// Index of the largest logit of each row, compared with the labels: the number of correct
/// predictions among `labels.len()` rows of `classes` logits (ties go to the lowest index, as
/// `torch.argmax`; a NaN row counts as wrong).
pub fn count_correct(logits: &[f32], labels: &[usize], classes: usize) -> usize {
    if classes == 0 {
        return 0;
    }
    logits
        .chunks_exact(classes)
        .zip(labels)
        .filter(|(row, &l)| argmax(row) == Some(l))
        .count()
}

fn argmax(row: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in row.iter().enumerate() {
        if v.is_nan() {
            return None;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// Area under the ROC curve of `scores` (higher = more signal-like) for binary `labels`
/// (`true` = signal): the probability that a random signal outscores a random noise example,
/// ties counting ½ (Mann–Whitney). `None` if either class is absent or a score is NaN.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    if scores.len() != labels.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg_rank * idx[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Detection efficiency at false-alarm probability `far`: the threshold is the smallest score
/// that at most `far·n_noise` noise examples exceed; returns `(threshold, fraction of signals
/// above it)`. `None` if either class is absent, `far` is outside `[0, 1]` or a score is NaN.
pub fn efficiency_at_far(scores: &[f32], labels: &[bool], far: f64) -> Option<(f32, f64)> {
    if scores.len() != labels.len() || !(0.0..=1.0).contains(&far) {
        return None;
    }
    if scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut noise: Vec<f32> = scores
        .iter()
        .zip(labels)
        .filter(|(_, &l)| !l)
        .map(|(&s, _)| s)
        .collect();
    let n_sig = labels.iter().filter(|&&l| l).count();
    if noise.is_empty() || n_sig == 0 {
        return None;
    }
    noise.sort_by(|a, b| b.total_cmp(a)); // descending
    let k = ((far * noise.len() as f64).floor() as usize).min(noise.len() - 1);
    let threshold = noise[k];
    let detected = scores
        .iter()
        .zip(labels)
        .filter(|(&s, &l)| l && s > threshold)
        .count();
    Some((threshold, detected as f64 / n_sig as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_counts_argmax() {
        let logits = [0.1, 0.9, 0.0, 2.0, -1.0, 1.0, 0.5, 0.5, f32::NAN, 0.0];
        // rows: [0.1,0.9]→1, [0,2]→1, [-1,1]→1, [0.5,0.5]→0 (tie → first), [NaN,0]→wrong
        assert_eq!(count_correct(&logits, &[1, 0, 1, 0, 1], 2), 3);
    }

    #[test]
    fn auc_by_hand() {
        // perfect separation
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        // inverted
        assert_eq!(
            roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        // pairs (pos, neg): scores pos {0.5, 0.3}, neg {0.4, 0.3}:
        // 0.5>0.4 ✓, 0.5>0.3 ✓, 0.3<0.4 ✗, 0.3=0.3 ½ → 2.5/4
        assert_eq!(
            roc_auc(&[0.5, 0.3, 0.4, 0.3], &[true, true, false, false]),
            Some(0.625)
        );
        assert_eq!(roc_auc(&[0.5, 0.3], &[true, true]), None);
        assert_eq!(roc_auc(&[f32::NAN, 0.3], &[true, false]), None);
    }

    #[test]
    fn efficiency_by_hand() {
        // noise scores 0..10 (10 of them), signals 5.5, 8.5, 9.5, 12
        let mut scores: Vec<f32> = (0..10).map(|v| v as f32).collect();
        let mut labels = vec![false; 10];
        scores.extend([5.5, 8.5, 9.5, 12.0]);
        labels.extend([true; 4]);
        // FAR 0.1: at most 1 of 10 noise above the threshold → threshold = 8 (only 9 above)
        let (t, eff) = efficiency_at_far(&scores, &labels, 0.1).unwrap();
        assert_eq!(t, 8.0);
        assert_eq!(eff, 0.75);
        // FAR 0: threshold = the loudest noise (9)
        let (t, eff) = efficiency_at_far(&scores, &labels, 0.0).unwrap();
        assert_eq!(t, 9.0);
        assert_eq!(eff, 0.5);
        assert!(efficiency_at_far(&scores, &labels, 1.5).is_none());
    }
}
