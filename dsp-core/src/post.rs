//! Generic post-processing of model outputs, shared by every plugin that turns per-class
//! probabilities into decisions: a causal probability average ([`ProbAverage`]) and the
//! threshold + median gate ([`ActivityGate`]) that the Activity Meter shows and the separator's
//! instrument-aware gating multiplies its masks by. Model-specific settings (which averaging
//! times and thresholds a card offers) live with each model's task.

/// Causal exponential average of class probabilities with time constant `seconds`, normalized
/// by the weight seen so far (so the first predictions after a reset are not pulled towards 0).
/// Sustained instruments are recognized more reliably from several seconds of evidence, at the
/// cost of a later switch-off. Allocation-free after construction.
#[derive(Debug, Clone)]
pub struct ProbAverage {
    rate: f32,
    alpha: f32,
    weight: f32,
    acc: Vec<f32>,
    out: Vec<f32>,
}

impl ProbAverage {
    /// An average over `classes` probabilities arriving `rate` times per second.
    pub fn new(classes: usize, seconds: f32, rate: f32) -> Self {
        let mut a = ProbAverage { rate, alpha: 0.0, weight: 0.0, acc: vec![0.0; classes], out: vec![0.0; classes] };
        a.set_seconds(seconds);
        a
    }

    /// Changes the time constant (0 passes predictions through); keeps the running state.
    pub fn set_seconds(&mut self, seconds: f32) {
        let steps = seconds * self.rate;
        self.alpha = if steps.is_finite() && steps > 0.0 { (-1.0 / steps).exp() } else { 0.0 };
    }

    /// Feeds one prediction; returns the averaged probabilities.
    pub fn push(&mut self, probs: &[f32]) -> &[f32] {
        let a = self.alpha;
        self.weight = a * self.weight + (1.0 - a);
        for ((acc, out), p) in self.acc.iter_mut().zip(&mut self.out).zip(probs) {
            *acc = a * *acc + (1.0 - a) * p;
            *out = *acc / self.weight;
        }
        &self.out
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.weight = 0.0;
        self.acc.fill(0.0);
        self.out.fill(0.0);
    }
}

/// Turns a stream of per-class probabilities into stable on/off decisions: per-class thresholds,
/// then a running median over the last `len` decisions (odd `len`; 1 disables smoothing).
/// Allocation-free after construction; lives on whichever thread consumes the results.
#[derive(Debug, Clone)]
pub struct ActivityGate {
    thresholds: Vec<f32>,
    len: usize,
    max_len: usize,
    history: Vec<Vec<bool>>,
    pos: usize,
    filled: usize,
    state: Vec<bool>,
}

impl ActivityGate {
    /// A gate for `thresholds.len()` classes with a median filter of up to `max_len` steps.
    pub fn new(thresholds: &[f32], len: usize, max_len: usize) -> Self {
        let max_len = max_len.max(1);
        ActivityGate {
            thresholds: thresholds.to_vec(),
            len: len.clamp(1, max_len),
            max_len,
            history: vec![vec![false; max_len]; thresholds.len()],
            pos: 0,
            filled: 0,
            state: vec![false; thresholds.len()],
        }
    }

    /// Changes the median length (clamped to `1..=max_len`, made odd).
    pub fn set_len(&mut self, len: usize) {
        let l = len.clamp(1, self.max_len);
        self.len = if l.is_multiple_of(2) { l - 1 } else { l }.max(1);
    }

    /// The per-class thresholds (from the model card).
    pub fn thresholds(&self) -> &[f32] {
        &self.thresholds
    }

    /// Replaces the thresholds (e.g. another response setting); extra or missing entries are
    /// ignored, so this never allocates.
    pub fn set_thresholds(&mut self, thresholds: &[f32]) {
        for (t, n) in self.thresholds.iter_mut().zip(thresholds) {
            *t = *n;
        }
    }

    /// Feeds one prediction; returns the smoothed decisions. `offset` (sensitivity, in
    /// [-0.5, 0.5]) is added to every threshold.
    pub fn push(&mut self, probs: &[f32], offset: f32) -> &[bool] {
        for (c, (p, t)) in probs.iter().zip(&self.thresholds).enumerate() {
            self.history[c][self.pos] = *p >= (t + offset).clamp(0.0, 1.0);
        }
        self.pos = (self.pos + 1) % self.max_len;
        self.filled = (self.filled + 1).min(self.max_len);
        let n = self.len.min(self.filled);
        for (c, s) in self.state.iter_mut().enumerate() {
            let on = (0..n).filter(|i| self.history[c][(self.pos + self.max_len - 1 - i) % self.max_len]).count();
            *s = 2 * on > n;
        }
        &self.state
    }

    /// The current decisions.
    pub fn state(&self) -> &[bool] {
        &self.state
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.history.iter_mut().for_each(|h| h.fill(false));
        self.filled = 0;
        self.state.fill(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_thresholds_and_median_filters() {
        let mut g = ActivityGate::new(&[0.5, 0.2], 3, 9);
        assert_eq!(g.push(&[0.6, 0.1], 0.0), &[true, false]);
        // Two decisions so far: one of two is not a majority.
        assert_eq!(g.push(&[0.4, 0.3], 0.0), &[false, false]);
        assert_eq!(g.push(&[0.4, 0.3], 0.0), &[false, true]);
        // A single-frame blip does not switch a class on with a 3-long median.
        let mut g = ActivityGate::new(&[0.5], 3, 9);
        for p in [0.0, 0.0, 0.9, 0.0, 0.0] {
            assert_eq!(g.push(&[p], 0.0), &[false]);
        }
        g.set_len(1);
        assert_eq!(g.push(&[0.9], 0.0), &[true]);
        assert_eq!(g.push(&[0.9], 0.5), &[false]);
    }

    #[test]
    fn average_is_causal_normalized_and_resettable() {
        let rate = 20.0;
        let mut a = ProbAverage::new(2, 1.0, rate);
        // Normalized: a constant input comes out unchanged from the first prediction on.
        assert_eq!(a.push(&[0.3, 0.8]), &[0.3, 0.8]);
        for _ in 0..5 {
            let o = a.push(&[0.3, 0.8]).to_vec();
            assert!((o[0] - 0.3).abs() < 1e-6 && (o[1] - 0.8).abs() < 1e-6, "{o:?}");
        }
        // A step from 0 to 1 after a long silence reaches 1 − 1/e after one time constant.
        a.reset();
        for _ in 0..400 {
            a.push(&[0.0, 0.0]);
        }
        let mut o = 0.0;
        for _ in 0..rate as usize {
            o = a.push(&[1.0, 0.0])[0];
        }
        assert!((o - (1.0 - (-1.0f32).exp())).abs() < 0.02, "{o}");
        // 0 s passes predictions through.
        a.set_seconds(0.0);
        assert_eq!(a.push(&[0.1, 0.9]), &[0.1, 0.9]);
    }
}
