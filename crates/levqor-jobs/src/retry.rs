//! Exponential back-off with jitter, for failed attempts and for callbacks.

use std::time::Duration;

use rand::Rng;

/// How the delay is spread, so that jobs that failed together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the exponential delay; for tests and reasoning.
    None,
    /// Uniform in `[0, d]` (AWS "full jitter"): spreads load best.
    Full,
    /// Uniform in `[d/2, d]`: never retries sooner than half the delay.
    Equal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The delay before the first retry.
    pub base: Duration,
    /// Each further retry waits this many times longer.
    pub factor: f64,
    /// No delay exceeds this.
    pub cap: Duration,
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { base: Duration::from_secs(1), factor: 2.0, cap: Duration::from_secs(600), jitter: Jitter::Full }
    }
}

impl RetryPolicy {
    /// The un-jittered delay after `attempt` failed attempts (1 for the first).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.base.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        // Overflow, NaN and infinity all mean "a very long time": the cap.
        Duration::try_from_secs_f64(secs).unwrap_or(self.cap).min(self.cap)
    }

    /// The delay after `attempt` failed attempts, given a uniform sample `unit` in
    /// `[0, 1)`. Pure, so tests (and the store) can reproduce a decision exactly.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.0 };
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => ceiling.mul_f64(unit),
            Jitter::Equal => ceiling / 2 + (ceiling / 2).mul_f64(unit),
        }
    }

    /// [`delay`](Self::delay) with the sample drawn from `rng` (seed it for tests).
    pub fn delay_with(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        self.delay(attempt, rng.random::<f64>())
    }

    /// A fresh uniform sample for [`delay`](Self::delay).
    pub fn sample() -> f64 {
        rand::random::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn none() -> RetryPolicy {
        RetryPolicy { jitter: Jitter::None, ..RetryPolicy::default() }
    }

    #[test]
    fn doubles_from_one_second_up_to_the_cap() {
        let p = none();
        let secs: Vec<u64> = (1..=12).map(|a| p.delay(a, 0.5).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(p.delay(u32::MAX, 0.5), Duration::from_secs(600));
        assert_eq!(p.delay(0, 0.5), Duration::from_secs(1));
    }

    #[test]
    fn full_jitter_spans_zero_to_ceiling() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(3, 0.0), Duration::ZERO);
        assert_eq!(p.delay(3, 0.5), Duration::from_secs(2));
        assert_eq!(p.delay(3, 1.0), Duration::from_secs(4));
        assert_eq!(p.delay(3, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn equal_jitter_never_goes_below_half() {
        let p = RetryPolicy { jitter: Jitter::Equal, ..RetryPolicy::default() };
        assert_eq!(p.delay(3, 0.0), Duration::from_secs(2));
        assert_eq!(p.delay(3, 1.0), Duration::from_secs(4));
    }

    #[test]
    fn seeded_rngs_are_deterministic() {
        let p = RetryPolicy::default();
        let a: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(7);
            (1..6).map(|n| p.delay_with(n, &mut rng)).collect()
        };
        let mut rng = StdRng::seed_from_u64(7);
        let b: Vec<_> = (1..6).map(|n| p.delay_with(n, &mut rng)).collect();
        assert_eq!(a, b);
        assert!(a.iter().zip(1..).all(|(d, n)| *d <= p.ceiling(n)));
    }

    #[test]
    fn odd_configurations_do_not_panic() {
        let p = RetryPolicy { factor: f64::NAN, ..none() };
        assert!(p.delay(5, 0.5) <= p.cap);
        let p = RetryPolicy { factor: 0.1, ..none() };
        assert_eq!(p.delay(5, 0.5), Duration::from_secs(1));
        let p = RetryPolicy { factor: 1e308, ..none() };
        assert_eq!(p.delay(3, 0.5), p.cap);
    }
}
