//! Weighted random key selection. Allocation-free and lock-free: two passes over the provider's
//! key slice, skipping keys that do not allow the model or that this request already ruled out.

use crate::config::Key;

/// Picks a key for `model` among `keys`, skipping indexes in `excluded`.
///
/// Keys are drawn with probability proportional to `weight`; when every candidate weighs 0 they
/// are drawn uniformly (as in the original). Float weights are used directly, so a weight of
/// 0.001 is small rather than, as in the original's ×100 truncation, never chosen.
pub fn select(keys: &[Key], model: &str, excluded: &[usize]) -> Option<usize> {
    let candidate = |i: usize, k: &Key| k.allows(model) && !excluded.contains(&i);
    let (mut count, mut total) = (0usize, 0.0f64);
    let mut last = None;
    for (i, k) in keys.iter().enumerate() {
        if candidate(i, k) {
            count += 1;
            total += k.weight.max(0.0);
            last = Some(i);
        }
    }
    match count {
        0 => return None,
        1 => return last,
        _ => {}
    }
    if total <= 0.0 {
        let mut nth = fastrand::usize(..count);
        for (i, k) in keys.iter().enumerate() {
            if candidate(i, k) {
                if nth == 0 {
                    return Some(i);
                }
                nth -= 1;
            }
        }
        return last;
    }
    let mut r = fastrand::f64() * total;
    for (i, k) in keys.iter().enumerate() {
        if candidate(i, k) && k.weight > 0.0 {
            r -= k.weight;
            if r < 0.0 {
                return Some(i);
            }
        }
    }
    // Float rounding can leave r marginally ≥ 0 after the last key.
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(weight: f64, models: &[&str]) -> Key {
        Key::new("k").with_weight(weight).with_models(models)
    }

    #[test]
    fn weights_three_to_one_split_about_75_25() {
        fastrand::seed(7);
        let keys = [key(3.0, &[]), key(1.0, &[])];
        let n = 40_000;
        let a = (0..n)
            .filter(|_| select(&keys, "m", &[]) == Some(0))
            .count();
        let share = a as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.01, "share of key A was {share}");
    }

    #[test]
    fn model_lists_exclusions_and_disabled_keys_filter_candidates() {
        let mut off = key(5.0, &[]);
        off.enabled = false;
        let keys = [key(1.0, &["gpt-4o"]), off, key(1.0, &["gpt-4o-mini"])];
        for _ in 0..100 {
            assert_eq!(select(&keys, "gpt-4o-mini", &[]), Some(2));
            assert_eq!(select(&keys, "gpt-4o", &[]), Some(0));
        }
        assert_eq!(select(&keys, "gpt-4o", &[0]), None);
        assert_eq!(select(&keys, "o1", &[]), None);
    }

    #[test]
    fn all_zero_weights_mean_uniform_and_zero_loses_to_positive() {
        fastrand::seed(3);
        let zeros = [key(0.0, &[]), key(0.0, &[])];
        let a = (0..10_000)
            .filter(|_| select(&zeros, "m", &[]) == Some(0))
            .count();
        assert!((4_500..5_500).contains(&a), "{a}");
        let mixed = [key(0.0, &[]), key(1.0, &[])];
        assert!((0..1000).all(|_| select(&mixed, "m", &[]) == Some(1)));
    }
}
