//! Provider entries: keys, network, cloud settings and model aliases from their raw forms.

use super::*;

pub(super) fn provider(
    name: &str,
    raw: RawProvider,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<ProviderEntry, ConfigError> {
    let path = format!("providers.{name}");
    let custom = match raw.custom_provider_config {
        Some(c) => {
            let cpath = format!("{path}.custom_provider_config");
            let base_format = ApiFormat::parse(&c.base_provider_type).ok_or_else(|| {
                err(
                    format!("{cpath}.base_provider_type"),
                    format!(
                        "{:?} is not supported; use one of \"openai\", \"anthropic\", \
                         \"gemini\", \"bedrock\", \"cohere\"",
                        c.base_provider_type
                    ),
                )
            })?;
            let request_type = |field: &str, name: &str| {
                RequestType::parse(name).ok_or_else(|| {
                    let all: Vec<&str> = RequestType::ALL.iter().map(|t| t.as_str()).collect();
                    err(
                        format!("{cpath}.{field}.{name}"),
                        format!("unknown request type; use one of {}", all.join(", ")),
                    )
                })
            };
            let mut custom = CustomProviderConfig::new(base_format);
            custom.is_key_less = c.is_key_less;
            if let Some(allowed) = c.allowed_requests {
                let mut list = Vec::new();
                for (name, on) in allowed {
                    let t = request_type("allowed_requests", &name)?;
                    if on {
                        list.push(t);
                    }
                }
                custom.allowed_requests = Some(list);
            }
            for (name, path) in c.request_path_overrides.unwrap_or_default() {
                let t = request_type("request_path_overrides", &name)?;
                if !path.starts_with('/') {
                    return Err(err(
                        format!("{cpath}.request_path_overrides.{name}"),
                        format!("{path:?} must start with '/'"),
                    ));
                }
                custom.request_path_overrides.insert(t, path);
            }
            Some(custom)
        }
        None => None,
    };
    // The in-process mock is set up by the server (see `mock_provider`).
    if custom.is_none() && providers::known(name).is_none() && name != "mock" {
        let known: Vec<&str> = providers::KNOWN.iter().map(|s| s.name).collect();
        return Err(err(
            path,
            format!(
                "unknown provider {name:?}; built-in providers are {}, or add a \
                 custom_provider_config with a base_provider_type",
                known.join(", ")
            ),
        ));
    }

    let network = network(&path, raw.network_config.unwrap_or_default())?;
    let mut concurrency = ConcurrencyAndBufferSize::default();
    if let Some(c) = raw.concurrency_and_buffer_size {
        if let Some(n) = c.concurrency {
            if n == 0 {
                return Err(err(
                    format!("{path}.concurrency_and_buffer_size.concurrency"),
                    "must be at least 1",
                ));
            }
            concurrency.concurrency = n;
        }
        if let Some(n) = c.buffer_size {
            concurrency.buffer_size = n;
        }
    }
    // A connection cap below the slots would hold requests in flight under what was asked for,
    // silently: refused, naming both settings.
    if let Some(n) = network
        .max_conns_per_host
        .filter(|&n| n < concurrency.concurrency)
    {
        return Err(err(
            format!("{path}.network_config.max_conns_per_host"),
            format!(
                "{n} is below {path}.concurrency_and_buffer_size.concurrency ({}): requests \
                 past {n} would wait for a connection; raise max_conns_per_host or lower \
                 concurrency",
                concurrency.concurrency
            ),
        ));
    }
    let mut key_health = KeyHealthConfig::default();
    if let Some(h) = raw.key_health {
        if let Some(ms) = h.rate_limit_cooldown_ms {
            key_health.rate_limit_cooldown = Duration::from_millis(ms);
        }
        if let Some(ms) = h.auth_failure_cooldown_ms {
            key_health.auth_failure_cooldown = Duration::from_millis(ms);
        }
    }
    let config = ProviderConfig {
        network,
        concurrency,
        key_health,
        custom,
    };
    let keyless = name == "mock"
        || config.custom.as_ref().map_or_else(
            || providers::known(name).is_some_and(|s| s.keyless),
            |c| c.is_key_less,
        );

    let mut keys = Vec::new();
    for (i, k) in raw.keys.into_iter().enumerate() {
        let kpath = format!("{path}.keys[{i}]");
        let value = match k.value.as_deref() {
            Some(v) => resolve_env(v, &format!("{kpath}.value"), env)?,
            None => String::new(),
        };
        let format = config
            .custom
            .as_ref()
            .map(|c| c.base_format)
            .or_else(|| providers::known(name).map(|s| s.format));
        let (cloud, deployments) = cloud_config(name, format, &kpath, &k, env)?;
        // Azure, Bedrock and Vertex keys may carry their credentials in the sub-config.
        let credentials_elsewhere = match &cloud {
            Some(CloudKeyConfig::Azure(a)) => a.entra.is_some(),
            Some(CloudKeyConfig::Bedrock(_) | CloudKeyConfig::Vertex(_)) => true,
            None => false,
        };
        if value.is_empty() && !keyless && !credentials_elsewhere {
            return Err(err(
                format!("{kpath}.value"),
                format!("the API key of provider {name:?} is empty"),
            ));
        }
        let weight = k.weight.unwrap_or(1.0);
        if !weight.is_finite() || weight < 0.0 {
            return Err(err(
                format!("{kpath}.weight"),
                format!("must be a number ≥ 0, got {weight}"),
            ));
        }
        let models = match k.models {
            None => Vec::new(),
            Some(m) if m.is_empty() => {
                warnings.push(format!(
                    "{kpath}.models: an empty list allows every model (deprecated; omit it or \
                     use [\"*\"], and use \"enabled\": false to switch a key off)"
                ));
                Vec::new()
            }
            Some(m) if m.iter().any(|x| x == "*") => Vec::new(),
            Some(m) => m,
        };
        let id = k.id.unwrap_or_else(|| format!("{name}-{i}"));
        keys.push(Key {
            name: k.name.unwrap_or_else(|| id.clone()),
            id,
            value: Secret::new(value),
            models,
            weight,
            enabled: k.enabled.unwrap_or(true),
            deployments,
            cloud,
        });
    }
    Ok(ProviderEntry {
        name: name.to_owned(),
        config,
        keys,
    })
}

type Deployments = std::collections::HashMap<String, String>;

/// A key's `azure_key_config` / `bedrock_key_config` / `vertex_key_config`, which must match
/// the provider's format; secret fields accept `env.VAR`.
fn cloud_config(
    provider: &str,
    format: Option<ApiFormat>,
    kpath: &str,
    k: &RawKey,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Option<CloudKeyConfig>, Deployments), ConfigError> {
    let secret = |v: &Option<String>, field: &str| -> Result<String, ConfigError> {
        match v {
            Some(v) => resolve_env(v, &format!("{kpath}.{field}"), env),
            None => Ok(String::new()),
        }
    };
    // Each section belongs to one format; its name prefixes the paths of errors inside it.
    let section = |field: &'static str, own: ApiFormat| {
        if format == Some(own) {
            Ok(field)
        } else {
            Err(err(
                format!("{kpath}.{field}"),
                format!("provider {provider:?} does not use {field}"),
            ))
        }
    };
    let deployments = |d: &Option<BTreeMap<String, String>>| -> Deployments {
        d.clone().unwrap_or_default().into_iter().collect()
    };
    if let Some(a) = &k.azure_key_config {
        let p = section("azure_key_config", ApiFormat::Azure)?;
        let endpoint = secret(&a.endpoint, &format!("{p}.endpoint"))?;
        let client_id = secret(&a.client_id, &format!("{p}.client_id"))?;
        let entra = if client_id.is_empty() {
            None
        } else {
            let tenant_id = secret(&a.tenant_id, &format!("{p}.tenant_id"))?;
            let client_secret = secret(&a.client_secret, &format!("{p}.client_secret"))?;
            if tenant_id.is_empty() || client_secret.is_empty() {
                return Err(err(
                    format!("{kpath}.{p}"),
                    "Entra ID auth needs client_id, client_secret and tenant_id",
                ));
            }
            Some(EntraCredentials {
                tenant_id,
                client_id,
                client_secret: Secret::new(client_secret),
                scopes: a.scopes.clone().unwrap_or_default(),
                token_url: a.token_url.clone(),
                token: Default::default(),
            })
        };
        let cfg = AzureKeyConfig {
            endpoint,
            api_version: a
                .api_version
                .clone()
                .unwrap_or_else(|| AZURE_DEFAULT_API_VERSION.to_owned()),
            entra,
        };
        return Ok((
            Some(CloudKeyConfig::Azure(cfg)),
            deployments(&a.deployments),
        ));
    }
    if let Some(b) = &k.bedrock_key_config {
        let p = section("bedrock_key_config", ApiFormat::Bedrock)?;
        let session_token = secret(&b.session_token, &format!("{p}.session_token"))?;
        let cfg = BedrockKeyConfig {
            access_key: secret(&b.access_key, &format!("{p}.access_key"))?,
            secret_key: Secret::new(secret(&b.secret_key, &format!("{p}.secret_key"))?),
            session_token: (!session_token.is_empty()).then(|| Secret::new(session_token)),
            region: secret(&b.region, &format!("{p}.region"))?,
        };
        if cfg.access_key.is_empty() != cfg.secret_key.is_empty() {
            return Err(err(
                format!("{kpath}.{p}"),
                "set both access_key and secret_key, or neither (to use the AWS environment)",
            ));
        }
        return Ok((
            Some(CloudKeyConfig::Bedrock(cfg)),
            deployments(&b.deployments),
        ));
    }
    if let Some(v) = &k.vertex_key_config {
        let p = section("vertex_key_config", ApiFormat::Vertex)?;
        let credentials = match &v.auth_credentials {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => {
                resolve_env(s, &format!("{kpath}.{p}.auth_credentials"), env)?
            }
            Some(obj @ serde_json::Value::Object(_)) => obj.to_string(),
            Some(_) => {
                return Err(err(
                    format!("{kpath}.{p}.auth_credentials"),
                    "must be the service-account JSON, as a string or an object",
                ))
            }
        };
        if !credentials.is_empty() {
            providers::auth::ServiceAccount::parse(&credentials)
                .map_err(|e| err(format!("{kpath}.{p}.auth_credentials"), e.message.clone()))?;
        }
        let project_id = secret(&v.project_id, &format!("{p}.project_id"))?;
        if project_id.is_empty() {
            return Err(err(format!("{kpath}.{p}.project_id"), "is required"));
        }
        let cfg = VertexKeyConfig {
            project_id,
            region: secret(&v.region, &format!("{p}.region"))?,
            auth_credentials: Secret::new(credentials),
            token: Default::default(),
        };
        return Ok((
            Some(CloudKeyConfig::Vertex(cfg)),
            deployments(&v.deployments),
        ));
    }
    match format {
        Some(ApiFormat::Azure) => Err(err(
            format!("{kpath}.azure_key_config"),
            "an Azure key needs azure_key_config with its endpoint",
        )),
        Some(ApiFormat::Vertex) => Err(err(
            format!("{kpath}.vertex_key_config"),
            "a Vertex key needs vertex_key_config with its project_id",
        )),
        // Credentials from the AWS environment (or a Bedrock API key in `value`).
        Some(ApiFormat::Bedrock) => Ok((
            Some(CloudKeyConfig::Bedrock(BedrockKeyConfig {
                access_key: String::new(),
                secret_key: Secret::default(),
                session_token: None,
                region: String::new(),
            })),
            Deployments::new(),
        )),
        _ => Ok((None, Deployments::new())),
    }
}

fn network(path: &str, raw: RawNetwork) -> Result<NetworkConfig, ConfigError> {
    let path = format!("{path}.network_config");
    let p = |field: &str| format!("{path}.{field}");
    let mut net = NetworkConfig::default();
    if let Some(url) = raw.base_url {
        let trimmed = url.trim();
        if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
            return Err(err(
                p("base_url"),
                format!("{url:?} is not an http:// or https:// URL"),
            ));
        }
        net.base_url = Some(trimmed.to_owned());
    }
    net.extra_headers = raw.extra_headers.unwrap_or_default().into_iter().collect();
    let timeout_secs_ms = match raw.default_request_timeout_in_seconds {
        Some(s) => Some(s.checked_mul(1000).ok_or_else(|| {
            err(
                p("default_request_timeout_in_seconds"),
                format!("{s} seconds is too large"),
            )
        })?),
        None => None,
    };
    let timeout_ms = reconcile(
        raw.timeout,
        &p("timeout"),
        timeout_secs_ms,
        &p("default_request_timeout_in_seconds"),
    )?;
    if let Some(ms) = timeout_ms {
        if ms == 0 {
            return Err(err(p("timeout"), "must be greater than 0"));
        }
        // A deadline this far out is a typo, and past it `Instant + Duration` overflows.
        if ms > MAX_TIMEOUT_MS {
            return Err(err(
                p("timeout"),
                format!("{ms} ms is more than the 24 h maximum"),
            ));
        }
        net.request_timeout = Duration::from_millis(ms);
    }
    if let Some(n) = reconcile(
        raw.retries,
        &p("retries"),
        raw.max_retries,
        &p("max_retries"),
    )? {
        net.max_retries = n;
    }
    if let Some(ms) = reconcile(
        raw.retry_backoff_initial,
        &p("retry_backoff_initial"),
        raw.retry_backoff_initial_ms,
        &p("retry_backoff_initial_ms"),
    )? {
        net.retry_backoff_initial = Duration::from_millis(ms);
    }
    if let Some(ms) = reconcile(
        raw.retry_backoff_max,
        &p("retry_backoff_max"),
        raw.retry_backoff_max_ms,
        &p("retry_backoff_max_ms"),
    )? {
        net.retry_backoff_max = Duration::from_millis(ms);
    }
    if net.retry_backoff_max < net.retry_backoff_initial {
        return Err(err(
            p("retry_backoff_max"),
            "must not be smaller than retry_backoff_initial",
        ));
    }
    if let Some(s) = raw.stream_idle_timeout_in_seconds {
        if !(1..=3600).contains(&s) {
            return Err(err(p("stream_idle_timeout_in_seconds"), "must be 1–3600"));
        }
        net.stream_idle_timeout = Duration::from_secs(s);
    }
    if let Some(ms) = raw.connect_timeout_ms {
        net.connect_timeout = Duration::from_millis(ms.max(1));
    }
    if let Some(n) = raw.max_conns_per_host {
        if !(1..=10_000).contains(&n) {
            return Err(err(p("max_conns_per_host"), "must be 1–10000"));
        }
        net.max_conns_per_host = Some(n);
    }
    if let Some(b) = raw.enforce_http2 {
        net.enforce_http2 = b;
    }
    Ok(net)
}

pub(super) fn alias(name: &str, raw: RawAlias) -> Result<ModelAlias, ConfigError> {
    let path = format!("client.model_aliases.{name}");
    let (targets, fallbacks) = match raw {
        RawAlias::One(t) => (
            vec![RawAliasTarget {
                target: t,
                weight: 1.0,
            }],
            Vec::new(),
        ),
        RawAlias::Weighted(t) => (t, Vec::new()),
        RawAlias::Full { targets, fallbacks } => (targets, fallbacks),
    };
    if targets.is_empty() {
        return Err(err(path, "an alias needs at least one target"));
    }
    let mut out = ModelAlias::default();
    for (i, t) in targets.into_iter().enumerate() {
        if !t.weight.is_finite() || t.weight < 0.0 {
            return Err(err(
                format!("{path}.targets[{i}].weight"),
                "must be a number ≥ 0",
            ));
        }
        if !t.target.contains('/') {
            return Err(err(
                format!("{path}.targets[{i}].target"),
                format!("{:?} must name a provider, as \"provider/model\"", t.target),
            ));
        }
        out.targets.push(AliasTarget {
            provider: None,
            model: t.target,
            weight: t.weight,
        });
    }
    out.fallbacks = fallbacks
        .into_iter()
        .map(|model| Fallback {
            provider: None,
            model,
        })
        .collect();
    Ok(out)
}

/// A provider as the management API and the config store hold it: config.json's provider
/// object (keys included), validated exactly like the file's. Errors name the JSON path
/// (`providers.<name>.…`); unknown fields are returned by path for the caller to refuse or
/// warn about.
pub fn provider_from_json(
    name: &str,
    value: &serde_json::Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(ProviderEntry, Vec<String>), ConfigError> {
    let (raw, unknown): (RawProvider, _) = deserialize_at(&format!("providers.{name}"), value)?;
    let mut warnings = Vec::new();
    let entry = provider(name, raw, env, &mut warnings)?;
    Ok((entry, unknown))
}
