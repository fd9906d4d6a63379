//! Model aliases (routing groups): a public model name mapped to weighted targets across
//! providers and an ordered fallback list, so clients can send a bare `"model": "gpt-4o"`.

use crate::schemas::Fallback;

#[derive(Debug, Clone, PartialEq)]
pub struct AliasTarget {
    /// `None` when `model` carries a `provider/` prefix.
    pub provider: Option<String>,
    pub model: String,
    pub weight: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelAlias {
    pub targets: Vec<AliasTarget>,
    /// Tried after every target has failed.
    pub fallbacks: Vec<Fallback>,
}

impl ModelAlias {
    /// A one-target alias: `"gpt-4o" → "openai/gpt-4o"`.
    pub fn to(target: &str) -> Self {
        Self {
            targets: vec![AliasTarget {
                provider: None,
                model: target.to_owned(),
                weight: 1.0,
            }],
            fallbacks: Vec::new(),
        }
    }

    /// The order to try the targets in: one drawn by weight, then the others by descending
    /// weight (so a failing target falls back to its siblings before the explicit fallbacks).
    pub fn ordered_targets(&self) -> Vec<&AliasTarget> {
        let mut rest: Vec<&AliasTarget> = self.targets.iter().collect();
        if rest.is_empty() {
            return rest;
        }
        let total: f64 = rest.iter().map(|t| t.weight.max(0.0)).sum();
        let first = if total > 0.0 {
            let mut r = fastrand::f64() * total;
            rest.iter()
                .position(|t| {
                    r -= t.weight.max(0.0);
                    t.weight > 0.0 && r < 0.0
                })
                .unwrap_or(rest.len() - 1)
        } else {
            fastrand::usize(..rest.len())
        };
        let chosen = rest.remove(first);
        rest.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        rest.insert(0, chosen);
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(model: &str, weight: f64) -> AliasTarget {
        AliasTarget {
            provider: None,
            model: model.into(),
            weight,
        }
    }

    #[test]
    fn first_target_follows_weights_and_the_rest_follow_in_weight_order() {
        fastrand::seed(11);
        let alias = ModelAlias {
            targets: vec![target("a", 3.0), target("b", 1.0), target("c", 0.0)],
            fallbacks: vec![],
        };
        let n = 8000;
        let a_first = (0..n)
            .filter(|_| alias.ordered_targets()[0].model == "a")
            .count();
        let share = a_first as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.03, "{share}");
        for _ in 0..100 {
            let order: Vec<&str> = alias
                .ordered_targets()
                .iter()
                .map(|t| t.model.as_str())
                .collect();
            assert_eq!(order.len(), 3);
            assert_ne!(order[0], "c");
            assert_eq!(order[2], "c");
        }
    }
}
