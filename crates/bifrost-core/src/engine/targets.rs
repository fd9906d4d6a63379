//! Phase 2, resolve targets: which providers and models a request may be served by, in the
//! order they are tried.

use super::table::RoutingTable;
use super::ProviderState;
use crate::error::BifrostError;
use crate::providers;

/// Where one attempt goes.
pub(crate) struct Target<'a> {
    pub provider: &'a ProviderState,
    /// The model as the upstream knows it.
    pub model: String,
}

impl RoutingTable {
    /// The targets of a request, in try-order: the primary (`provider` field, `provider/model`
    /// prefix, model alias, or the one provider whose keys list the model), then the request's
    /// `fallbacks`, then an alias's other targets and its fallbacks.
    pub(crate) fn targets(
        &self,
        provider: Option<&str>,
        model: &str,
        fallbacks: &[crate::schemas::Fallback],
    ) -> Result<Vec<Target<'_>>, BifrostError> {
        let mut targets = Vec::with_capacity(1 + fallbacks.len());
        self.expand(provider, model, &mut targets)
            .map_err(|e| e.with_model(model))?;
        if fallbacks.is_empty() {
            return Ok(targets);
        }
        // The request's own fallbacks come right after the primary, before an alias's siblings.
        let mut explicit = Vec::new();
        for (i, fb) in fallbacks.iter().enumerate() {
            self.expand(fb.provider.as_deref(), &fb.model, &mut explicit)
                .map_err(|mut e| {
                    e.message = format!("fallbacks[{i}]: {}", e.message);
                    e
                })?;
        }
        let rest = targets.split_off(1);
        targets.extend(explicit);
        targets.extend(rest);
        Ok(targets)
    }

    /// Resolves a provider and model without aliases: the `provider` field (model verbatim),
    /// a configured `provider/` prefix, or the one provider whose keys list the model.
    pub(crate) fn resolve_direct(
        &self,
        provider: Option<&str>,
        model: &str,
    ) -> Result<Target<'_>, BifrostError> {
        let providers = &self.providers;
        let not_configured = |p: &str| {
            BifrostError::invalid_request(format!(
                "provider '{p}' is not configured (configured: {})",
                self.order.join(", ")
            ))
        };
        if model.is_empty() {
            return Err(BifrostError::invalid_request("'model' must not be empty"));
        }
        if let Some(p) = provider {
            // The seed's spelling: the model is taken verbatim (ids may contain '/').
            let state = providers.get(p).ok_or_else(|| not_configured(p))?;
            return Ok(Target {
                provider: state,
                model: model.to_owned(),
            });
        }
        if let Some((prefix, rest)) = model.split_once('/') {
            if let Some(state) = providers.get(prefix) {
                if rest.is_empty() {
                    return Err(BifrostError::invalid_request(format!(
                        "model '{model}' names provider '{prefix}' but no model"
                    )));
                }
                return Ok(Target {
                    provider: state,
                    model: rest.to_owned(),
                });
            }
            if providers::known(prefix).is_some() {
                return Err(not_configured(prefix));
            }
        }
        let mut serving = self
            .order
            .iter()
            .filter_map(|n| providers.get(n))
            .filter(|p| {
                p.keys.keys().iter().any(|k| {
                    k.enabled
                        && (k.models.iter().any(|m| m == model)
                            || k.deployments.contains_key(model))
                })
            });
        match (serving.next(), serving.next()) {
            (Some(state), None) => Ok(Target {
                provider: state,
                model: model.to_owned(),
            }),
            (Some(a), Some(b)) => Err(BifrostError::invalid_request(format!(
                "model '{model}' is served by several providers ({}, {}, …); name one as \
                 'provider/{model}' or with the 'provider' field",
                a.name, b.name
            ))),
            _ => Err(BifrostError::model_not_found(format!(
                "model '{model}' is not served by any configured provider; name it as \
                 'provider/model' (configured providers: {})",
                self.order.join(", ")
            ))),
        }
    }

    /// Every target of one entry (the request's model or a fallback): an alias expands to its
    /// targets in try-order, then its own fallbacks.
    pub(crate) fn expand<'a>(
        &'a self,
        provider: Option<&str>,
        model: &str,
        out: &mut Vec<Target<'a>>,
    ) -> Result<(), BifrostError> {
        // An explicit provider or a provider prefix wins over an alias of the same name.
        let has_prefix = model
            .split_once('/')
            .is_some_and(|(p, _)| self.providers.contains_key(p));
        let alias = (provider.is_none() && !has_prefix)
            .then(|| self.aliases.get(model))
            .flatten();
        let Some(alias) = alias else {
            out.push(self.resolve_direct(provider, model)?);
            return Ok(());
        };
        for t in alias.ordered_targets() {
            out.push(self.resolve_direct(t.provider.as_deref(), &t.model)?);
        }
        for f in &alias.fallbacks {
            out.push(self.resolve_direct(f.provider.as_deref(), &f.model)?);
        }
        Ok(())
    }
}
