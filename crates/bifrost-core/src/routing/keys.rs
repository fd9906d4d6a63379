//! Weighted random key selection with key health. Allocation-free and lock-free: two passes
//! over the provider's key slice, skipping keys that do not allow the model, that this request
//! already ruled out, or that are cooling down after a rate limit or an auth failure.

use crate::config::Key;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// While a key cools down after a failure without the upstream's own `Retry-After`, one
/// request this often may probe it.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// A provider's keys and their health.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<Key>,
    /// Per key: cooling down until this many ms after `epoch` (0 = healthy).
    cool_until_ms: Vec<AtomicU64>,
    /// Per key, while it cools: when one request may next probe it (half-open), in ms after
    /// `epoch`; `u64::MAX` when the upstream said itself how long to wait.
    probe_at_ms: Vec<AtomicU64>,
    /// The latest of those deadlines, 0 once it has passed: while no key cools down (the
    /// common case) selection reads no clock.
    any_cooling_until_ms: AtomicU64,
    epoch: Instant,
    /// Precomputed draws for the common case (no exclusions, no key cooling down): one table
    /// per model named in some key's `models`, and one for every other model.
    tables: Vec<(String, DrawTable)>,
    default_table: DrawTable,
}

/// The candidate keys of one model, as cumulative weights.
#[derive(Debug, Default)]
struct DrawTable {
    /// `(cumulative weight scaled to the u32 range, key index)`; with all weights 0, every
    /// entry has weight 1. Integer thresholds let a draw be one raw random u32.
    entries: Vec<(u32, usize)>,
}

impl DrawTable {
    fn build(keys: &[Key], model: &str) -> Self {
        let candidates: Vec<usize> = (0..keys.len()).filter(|i| keys[*i].allows(model)).collect();
        let all_zero = candidates.iter().all(|i| keys[*i].weight <= 0.0);
        let weight = |i: usize| {
            if all_zero {
                1.0
            } else {
                keys[i].weight.max(0.0)
            }
        };
        let total: f64 = candidates.iter().map(|i| weight(*i)).sum();
        let mut cum = 0.0;
        let mut entries: Vec<(u32, usize)> = candidates
            .into_iter()
            .filter(|i| weight(*i) > 0.0)
            .map(|i| {
                cum += weight(i);
                ((cum / total * f64::from(u32::MAX)) as u32, i)
            })
            .collect();
        if let Some(last) = entries.last_mut() {
            last.0 = u32::MAX;
        }
        Self { entries }
    }

    fn draw(&self) -> Selection {
        match self.entries.as_slice() {
            [] => Selection::NoKey,
            [(_, only)] => Selection::Key(*only),
            entries => {
                let r = fastrand::u32(..);
                let i = entries
                    .iter()
                    .position(|(cum, _)| r < *cum)
                    .unwrap_or(entries.len() - 1);
                Selection::Key(entries[i].1)
            }
        }
    }
}

/// The outcome of a selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    Key(usize),
    /// No key allows this model (or every one was ruled out by this request).
    NoKey,
    /// Keys allow the model but all cool down; the first recovers after this long.
    AllCooling(Duration),
}

impl KeySet {
    pub fn new(keys: Vec<Key>) -> Self {
        let cool_until_ms = keys.iter().map(|_| AtomicU64::new(0)).collect();
        let probe_at_ms = keys.iter().map(|_| AtomicU64::new(0)).collect();
        let mut named: Vec<&str> = keys
            .iter()
            .flat_map(|k| {
                k.models
                    .iter()
                    .chain(k.deployments.keys())
                    .map(String::as_str)
            })
            .collect();
        named.sort_unstable();
        named.dedup();
        let tables = named
            .iter()
            .map(|m| ((*m).to_owned(), DrawTable::build(&keys, m)))
            .collect();
        // A model no key names (in `models` or `deployments`) is served by the keys that allow
        // every model.
        let default_table = DrawTable::build(
            &keys
                .iter()
                .map(|k| Key {
                    enabled: k.enabled && k.models.is_empty() && k.deployments.is_empty(),
                    ..k.clone()
                })
                .collect::<Vec<_>>(),
            "",
        );
        Self {
            keys,
            cool_until_ms,
            probe_at_ms,
            any_cooling_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            tables,
            default_table,
        }
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    pub fn get(&self, i: usize) -> &Key {
        &self.keys[i]
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Takes key `i` out of rotation for `period` (a later deadline never moves earlier).
    /// With `probe`, one request per [`PROBE_INTERVAL`] may still try the key while it cools
    /// (half-open), so a key that recovers early is back at once; without it (the upstream
    /// gave its own `Retry-After`) the key is left alone until the period ends.
    pub fn cool_down(&self, i: usize, period: Duration, probe: bool) {
        let now = self.now_ms();
        let until = now.saturating_add(period.as_millis().try_into().unwrap_or(u64::MAX));
        if let Some(c) = self.cool_until_ms.get(i) {
            c.fetch_max(until.max(1), Ordering::Relaxed);
            self.any_cooling_until_ms
                .fetch_max(until.max(1), Ordering::Relaxed);
            let probe_at = if probe {
                now + PROBE_INTERVAL.as_millis() as u64
            } else {
                u64::MAX
            };
            self.probe_at_ms[i].store(probe_at, Ordering::Relaxed);
        }
    }

    /// Key `i` answered: if it was cooling (a probe), it is back in rotation now. Costs one
    /// atomic load while no key cools.
    pub fn recovered(&self, i: usize) {
        if self.any_cooling_until_ms.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Some(c) = self.cool_until_ms.get(i) {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Whether key `i` is out of rotation right now.
    pub fn is_cooling(&self, i: usize) -> bool {
        self.cool_until_ms
            .get(i)
            .is_some_and(|c| c.load(Ordering::Relaxed) > self.now_ms())
    }

    /// The index of the key with this id, or else this name.
    pub fn find(&self, id: Option<&str>, name: Option<&str>) -> Option<usize> {
        if let Some(id) = id {
            return self.keys.iter().position(|k| k.id == id);
        }
        let name = name?;
        self.keys.iter().position(|k| k.name == name)
    }

    /// Picks a key for `model`, skipping indexes in `excluded` and keys cooling down. Without
    /// exclusions or cooldowns this is one table lookup and one random draw.
    ///
    /// Keys are drawn with probability proportional to `weight`; when every candidate weighs
    /// 0 they are drawn uniformly (as in the original). Float weights are used directly, so a
    /// weight of 0.001 is small rather than, as in the original's ×100 truncation, never
    /// chosen.
    pub fn select(&self, model: &str, excluded: &[usize]) -> Selection {
        let any = self.any_cooling_until_ms.load(Ordering::Relaxed);
        if any == 0 && excluded.is_empty() {
            let table = self
                .tables
                .iter()
                .find(|(m, _)| m == model)
                .map_or(&self.default_table, |(_, t)| t);
            return table.draw();
        }
        let now = if any == 0 {
            0
        } else {
            let now = self.now_ms();
            if now >= any {
                // Every cooldown is over; later selections skip the clock again.
                let _ = self.any_cooling_until_ms.compare_exchange(
                    any,
                    0,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            now
        };
        let mut soonest = u64::MAX;
        let mut candidate = |i: usize, k: &Key| {
            if !k.allows(model) || excluded.contains(&i) {
                return false;
            }
            let until = self.cool_until_ms[i].load(Ordering::Relaxed);
            if until > now {
                soonest = soonest.min(until);
                return false;
            }
            true
        };
        let (mut count, mut total) = (0usize, 0.0f64);
        let mut last = 0;
        for (i, k) in self.keys.iter().enumerate() {
            if candidate(i, k) {
                count += 1;
                total += k.weight.max(0.0);
                last = i;
            }
        }
        match count {
            0 if soonest != u64::MAX => {
                // Half-open: the first request after a probe interval tries a cooling key.
                for (i, k) in self.keys.iter().enumerate() {
                    if !k.allows(model) || excluded.contains(&i) {
                        continue;
                    }
                    let at = self.probe_at_ms[i].load(Ordering::Relaxed);
                    let next = now + PROBE_INTERVAL.as_millis() as u64;
                    if at <= now
                        && self.probe_at_ms[i]
                            .compare_exchange(at, next, Ordering::Relaxed, Ordering::Relaxed)
                            .is_ok()
                    {
                        return Selection::Key(i);
                    }
                }
                return Selection::AllCooling(Duration::from_millis(soonest - now));
            }
            0 => return Selection::NoKey,
            1 => return Selection::Key(last),
            _ => {}
        }
        // Second pass: the candidate set is the same, re-derived without the cooling lookups'
        // side effects mattering.
        let is_candidate = |i: usize, k: &Key| {
            k.allows(model)
                && !excluded.contains(&i)
                && self.cool_until_ms[i].load(Ordering::Relaxed) <= now
        };
        if total <= 0.0 {
            let mut nth = fastrand::usize(..count);
            for (i, k) in self.keys.iter().enumerate() {
                if is_candidate(i, k) {
                    if nth == 0 {
                        return Selection::Key(i);
                    }
                    nth -= 1;
                }
            }
            return Selection::Key(last);
        }
        let mut r = fastrand::f64() * total;
        for (i, k) in self.keys.iter().enumerate() {
            if k.weight > 0.0 && is_candidate(i, k) {
                r -= k.weight;
                if r < 0.0 {
                    return Selection::Key(i);
                }
            }
        }
        // Float rounding can leave r marginally ≥ 0 after the last key.
        Selection::Key(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(weight: f64, models: &[&str]) -> Key {
        Key::new("k").with_weight(weight).with_models(models)
    }

    fn pick(set: &KeySet, model: &str) -> Option<usize> {
        match set.select(model, &[]) {
            Selection::Key(i) => Some(i),
            _ => None,
        }
    }

    #[test]
    fn weights_three_to_one_split_about_75_25() {
        fastrand::seed(7);
        let set = KeySet::new(vec![key(3.0, &[]), key(1.0, &[])]);
        let n = 40_000;
        let a = (0..n).filter(|_| pick(&set, "m") == Some(0)).count();
        let share = a as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.01, "share of key A was {share}");
    }

    #[test]
    fn model_lists_exclusions_and_disabled_keys_filter_candidates() {
        let mut off = key(5.0, &[]);
        off.enabled = false;
        let set = KeySet::new(vec![key(1.0, &["gpt-4o"]), off, key(1.0, &["gpt-4o-mini"])]);
        for _ in 0..100 {
            assert_eq!(pick(&set, "gpt-4o-mini"), Some(2));
            assert_eq!(pick(&set, "gpt-4o"), Some(0));
        }
        assert_eq!(set.select("gpt-4o", &[0]), Selection::NoKey);
        assert_eq!(set.select("o1", &[]), Selection::NoKey);
    }

    #[test]
    fn all_zero_weights_mean_uniform_and_zero_loses_to_positive() {
        fastrand::seed(3);
        let zeros = KeySet::new(vec![key(0.0, &[]), key(0.0, &[])]);
        let a = (0..10_000).filter(|_| pick(&zeros, "m") == Some(0)).count();
        assert!((4_500..5_500).contains(&a), "{a}");
        let mixed = KeySet::new(vec![key(0.0, &[]), key(1.0, &[])]);
        assert!((0..1000).all(|_| pick(&mixed, "m") == Some(1)));
    }

    #[test]
    fn fast_and_slow_paths_agree_on_candidates_and_weights() {
        fastrand::seed(5);
        let set = KeySet::new(vec![
            key(1.0, &["a"]),
            key(3.0, &[]),
            key(0.0, &["a", "b"]),
            key(2.0, &["b"]),
        ]);
        let count = |model: &str, excluded: &[usize]| {
            let mut n = [0usize; 4];
            for _ in 0..20_000 {
                if let Selection::Key(i) = set.select(model, excluded) {
                    n[i] += 1;
                }
            }
            n
        };
        // "a": keys 0 (w1) and 1 (w3, all models); key 2 weighs 0 so loses to positive weights.
        let fast = count("a", &[]);
        assert_eq!(fast[2] + fast[3], 0);
        assert!((fast[1] as f64 / 20_000.0 - 0.75).abs() < 0.02, "{fast:?}");
        // The slow path (an exclusion that removes nothing relevant) draws the same way.
        let slow = count("a", &[3]);
        assert!((slow[1] as f64 / 20_000.0 - 0.75).abs() < 0.02, "{slow:?}");
        // An unnamed model only reaches keys that allow every model.
        assert_eq!(count("zzz", &[]), [0, 20_000, 0, 0]);
        // Only zero-weight candidates: uniform.
        let set = KeySet::new(vec![key(0.0, &["c"]), key(0.0, &["c"])]);
        let zeros = (0..10_000)
            .filter(|_| set.select("c", &[]) == Selection::Key(0))
            .count();
        assert!((4_500..5_500).contains(&zeros), "{zeros}");
    }

    #[test]
    fn cooling_keys_leave_rotation_and_come_back() {
        let set = KeySet::new(vec![key(1.0, &[]), key(1.0, &[])]);
        set.cool_down(0, Duration::from_millis(60), false);
        assert!((0..200).all(|_| pick(&set, "m") == Some(1)));
        set.cool_down(1, Duration::from_millis(500), false);
        match set.select("m", &[]) {
            Selection::AllCooling(d) => assert!(d <= Duration::from_millis(60), "{d:?}"),
            other => panic!("{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(70));
        assert_eq!(pick(&set, "m"), Some(0));
        // A shorter cooldown never shortens a longer one.
        set.cool_down(1, Duration::from_millis(1), false);
        assert!(set.is_cooling(1));
    }
}
