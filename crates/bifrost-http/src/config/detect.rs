//! Providers detected from the environment when there is no config file.

use super::ProviderEntry;
use bifrost_core::{providers, BedrockKeyConfig, CloudKeyConfig, Key, ProviderConfig, Secret};

/// With no config file: one provider per built-in whose API key variable is set, each key
/// allowing every model.
pub fn detect_providers(env: &dyn Fn(&str) -> Option<String>) -> Vec<ProviderEntry> {
    let mut out = Vec::new();
    for spec in providers::KNOWN {
        let Some((var, value)) = spec
            .env_keys
            .iter()
            .find_map(|v| env(v).filter(|x| !x.trim().is_empty()).map(|x| (*v, x)))
        else {
            continue;
        };
        let mut key = Key::new(value.trim());
        key.id = format!("{}-env", spec.name);
        key.name = var.to_owned();
        out.push(ProviderEntry {
            name: spec.name.to_owned(),
            config: ProviderConfig::default(),
            keys: vec![key],
        });
    }
    if let Some(bedrock) = detect_bedrock(env) {
        out.push(bedrock);
    }
    out
}

/// Bedrock from the AWS environment: a Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`), or
/// access keys with a region.
fn detect_bedrock(env: &dyn Fn(&str) -> Option<String>) -> Option<ProviderEntry> {
    let var = |n: &str| {
        env(n)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
    let mut key = Key::new("");
    key.id = "bedrock-env".into();
    if let Some(token) = var("AWS_BEARER_TOKEN_BEDROCK") {
        key.value = Secret::new(token);
        key.name = "AWS_BEARER_TOKEN_BEDROCK".into();
    } else {
        key.name = "AWS_ACCESS_KEY_ID".into();
    }
    let (access_key, secret_key) = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(a), Some(s)) if region.is_some() => (a, s),
        _ if !key.value.is_empty() => (String::new(), String::new()),
        _ => return None,
    };
    key.cloud = Some(CloudKeyConfig::Bedrock(BedrockKeyConfig {
        access_key,
        secret_key: Secret::new(secret_key),
        session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
        region: region.unwrap_or_default(),
    }));
    Some(ProviderEntry {
        name: "bedrock".into(),
        config: ProviderConfig::default(),
        keys: vec![key],
    })
}
