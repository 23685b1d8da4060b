//! Summaries of repeated measurements: median, min and max over runs, and the ratio of two
//! medians measured in the same run.

/// Median, min and max of one figure over its runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Summary {
    /// None when there is no sample or a sample is not a number.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() || samples.iter().any(|s| s.is_nan()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[mid]
        } else {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        };
        Some(Summary {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            runs: sorted.len(),
        })
    }

    /// `median (min-max)` with `decimals` digits after the point.
    pub fn cell(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ({:.d$}-{:.d$})",
            self.median,
            self.min,
            self.max,
            d = decimals
        )
    }
}

/// ours / theirs of the medians, as `0.21x`; `-` when either is missing or theirs is zero.
pub fn ratio(ours: Option<Summary>, theirs: Option<Summary>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b.median != 0.0 => {
            let r = a.median / b.median;
            // Below 0.01 two decimals would print 0.00x: keep two significant digits.
            if r != 0.0 && r.abs() < 0.01 {
                let decimals = (1.0 - r.abs().log10().floor()).min(12.0) as usize;
                format!("{r:.decimals$}x")
            } else {
                format!("{r:.2}x")
            }
        }
        _ => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = Summary::of(&[5.0, 1.0, 3.0, 9.0, 2.0]).expect("summary");
        assert_eq!((s.median, s.min, s.max, s.runs), (3.0, 1.0, 9.0, 5));
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]).expect("summary");
        assert_eq!(s.median, 2.5);
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn cells_and_ratios() {
        let a = Summary::of(&[0.1, 0.12, 0.11]);
        let b = Summary::of(&[0.5, 0.55, 0.6]);
        assert_eq!(a.expect("a").cell(3), "0.110 (0.100-0.120)");
        assert_eq!(ratio(a, b), "0.20x");
        assert_eq!(
            ratio(Summary::of(&[35.1]), Summary::of(&[11444.9])),
            "0.0031x"
        );
        assert_eq!(ratio(a, None), "-");
        assert_eq!(ratio(a, Summary::of(&[0.0])), "-");
    }
}
