//! The `bifrost-http` gateway: config loading, the HTTP routes, and serving with a draining
//! shutdown. The engine (`bifrost-core`) does the routing; this crate speaks HTTP.

pub mod api;
pub mod auth;
pub mod body;
pub mod cli;
pub mod config;
pub mod control;
pub mod cors;
/// Entry points for the fuzz targets in `fuzz/`: the inbound parsers that are private to the
/// routes. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use axum::http::HeaderMap;
    use bifrost_core::{BifrostError, RawRequest, RequestOptions};
    use bytes::Bytes;

    /// The multipart/form-data parser of `/v1/audio/transcriptions`.
    pub async fn multipart(headers: &HeaderMap, body: Bytes) -> Result<RawRequest, BifrostError> {
        crate::routes::request::multipart_request(headers, body).await
    }

    /// The `x-bf-*` routing headers of the inference routes.
    pub fn routing_headers(headers: &HeaderMap) -> Result<RequestOptions, BifrostError> {
        crate::routes::chat::options(headers, RequestOptions::default())
    }
}
pub mod governance;
pub mod health;
mod logfmt;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod otel;
pub mod pprof;
mod routes;
pub mod server;
mod ui;

use anyhow::Context as _;
use bifrost_core::{ApiFormat, Bifrost, BifrostConfig, CustomProviderConfig, StaticAccount};
#[cfg(feature = "mock")]
use bifrost_mock::{MockConfig, MockServer};
use bifrost_store::{Backend, ConfigStore, LogStore, LogWriter, StoredProvider};
use cli::Cli;
use config::{FileConfig, ProviderEntry};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use routes::router;

/// Server-level settings the routes need.
#[derive(Debug)]
pub struct Settings {
    pub max_request_body_bytes: usize,
    /// Request bodies held at once (`client.max_request_bytes_in_flight_mb`).
    pub body_budget: body::BodyBudget,
    /// Custom Prometheus label names (`-prometheus-labels`, `client.prometheus_labels`),
    /// normalised (`team-id` → `team_id`); the metrics layer reads them.
    pub prometheus_labels: Vec<String>,
    /// `client.allow_direct_keys` (changed at run time by `PUT /api/config`).
    pub allow_direct_keys: std::sync::atomic::AtomicBool,
    /// `/debug/pprof/*` is served (`client.enable_pprof`; by default when listening on
    /// loopback or with admin auth on).
    pub enable_pprof: bool,
}

/// Shared by every request: one pointer, since axum clones the state for every middleware
/// and extractor of every request (cloning the fields' dozen `Arc`s showed in profiles).
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

impl AppState {
    /// The state while nothing shares it yet (tests tune it before serving).
    pub fn get_mut(&mut self) -> Option<&mut AppStateInner> {
        Arc::get_mut(&mut self.0)
    }
}

pub struct AppStateInner {
    pub engine: Bifrost,
    pub settings: Arc<Settings>,
    pub metrics: Arc<metrics::Metrics>,
    /// Request logging (`None` when `client.enable_logging` or `logs_store.enabled` is off).
    pub logs: Option<logs::RequestLogs>,
    pub log_store: Option<bifrost_store::LogStore>,
    /// Providers and keys at run time (the management API).
    pub control: Option<Arc<control::ControlPlane>>,
    /// Admin auth (`auth_config`).
    pub auth: Arc<auth::AdminAuth>,
    pub cors: cors::SharedCors,
    /// The component checks behind `/health` and `/health/ready`; stores register here.
    pub health: Arc<health::Readiness>,
    /// Virtual keys, budgets, rate limits and prices.
    pub governance: Arc<governance::Governance>,
}

/// A gateway ready to serve.
pub struct Gateway {
    pub state: AppState,
    /// Where the configuration came from, for the startup log.
    pub source: String,
    pub warnings: Vec<String>,
    /// The in-process mock provider, when the configuration uses one.
    #[cfg(feature = "mock")]
    pub mock: Option<MockServer>,
    /// OpenTelemetry trace export, from config.json's `otel` plugin or the `OTEL_*`
    /// variables; [`otel::init`] installs it.
    pub otel: Option<otel::OtelConfig>,
    /// Connection limits (header-read timeout, connection cap), from the open-file limit.
    pub server: server::ServerOptions,
}

const DEFAULT_BODY_LIMIT: usize = 100 * 1024 * 1024;
/// Bytes of request bodies held at once by default (or the body limit, when larger).
const DEFAULT_BODIES_IN_FLIGHT: usize = 512 * 1024 * 1024;
/// How long a shutdown waits for in-flight requests before exiting anyway.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `host` (as given to `-host`) names a loopback address: 127.0.0.0/8, `::1` or
/// `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The app directory: `-app-dir`, else `$XDG_CONFIG_HOME/bifrost`, else `~/.config/bifrost`,
/// else `./bifrost-data`.
pub fn app_dir(cli: &Cli) -> PathBuf {
    if let Some(d) = &cli.app_dir {
        return d.clone();
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("bifrost");
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => PathBuf::from(h).join(".config").join("bifrost"),
        None => PathBuf::from("bifrost-data"),
    }
}

impl Gateway {
    /// Loads the configuration the command line points at (or detects providers from the
    /// environment) and builds the engine. `env` looks up environment variables.
    pub async fn load(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let path = match &cli.config {
            Some(p) => Some(p.clone()),
            None => Some(app_dir(cli).join("config.json")).filter(|p| p.is_file()),
        };
        let path_exists = path.is_some();
        let mut import_log: Vec<String> = Vec::new();
        let (mut file, source) = match path {
            Some(p) => (
                read_config(&p, env)?,
                format!("config file {}", p.display()),
            ),
            None => {
                let mut detected = config::detect_providers(env);
                let names: Vec<String> = detected.iter().map(|p| p.name.clone()).collect();
                // Always serve the in-process mock, so a first request works with no key at all.
                if cfg!(feature = "mock") {
                    detected.push(ProviderEntry {
                        name: "mock".to_owned(),
                        config: Default::default(),
                        keys: Vec::new(),
                    });
                }
                let source = if names.is_empty() && cfg!(feature = "mock") {
                    "no config file and no provider API key in the environment; serving the \
                     built-in mock provider only"
                        .to_owned()
                } else if names.is_empty() {
                    "no config file and no provider API key in the environment; no provider is \
                     configured (this build has no built-in mock provider)"
                        .to_owned()
                } else {
                    format!(
                        "no config file; providers detected from the environment: {}",
                        names.join(", ")
                    )
                };
                (
                    FileConfig {
                        providers: detected,
                        ..FileConfig::default()
                    },
                    source,
                )
            }
        };

        // config.json's otel plugin wins; without one, the standard variables decide.
        let otel = match file.otel.take() {
            Some(o) => Some(o),
            None if file.otel_disabled => None,
            None => otel::OtelConfig::from_env(env).map_err(|e| anyhow::anyhow!("{e}"))?,
        };

        #[cfg(feature = "mock")]
        let mut mock = None;
        for p in &mut file.providers {
            if p.name == "mock" && p.config.network.base_url.is_none() {
                #[cfg(feature = "mock")]
                {
                    let server = MockServer::start(MockConfig {
                        require_auth: false,
                        ..MockConfig::default()
                    })
                    .await
                    .context("starting the in-process mock provider")?;
                    p.config.network.base_url = Some(server.url());
                    p.config.custom = Some(CustomProviderConfig {
                        is_key_less: true,
                        ..CustomProviderConfig::new(ApiFormat::OpenAi)
                    });
                    mock = Some(server);
                }
                // Without the feature there is nothing to point the provider at: starting
                // anyway would fail every request to it with a connection error.
                #[cfg(not(feature = "mock"))]
                anyhow::bail!(
                    "{source}: provider 'mock' has no network_config.base_url, and the built-in \
                     mock provider was compiled out of this binary (cargo feature `mock`); \
                     point base_url at a running bifrost-mock, or remove the provider"
                );
            } else if p.name == "mock" && p.config.custom.is_none() {
                // A `mock` with its own base_url is an external bifrost-mock binary.
                p.config.custom = Some(CustomProviderConfig {
                    is_key_less: true,
                    ..CustomProviderConfig::new(ApiFormat::OpenAi)
                });
            }
        }

        let dir = app_dir(cli);
        let config_store = open_store(
            "config_store",
            file.stores.config_store.as_ref(),
            &dir.join("config.db"),
            env,
            |b| {
                let cipher = file
                    .stores
                    .encryption_key
                    .as_deref()
                    .map(bifrost_store::Cipher::from_passphrase);
                async move { ConfigStore::open(&b, cipher).await }
            },
        )
        .await?;
        // Client settings changed through the API (`PUT /api/config`) win over the file's,
        // unless the file is the source of truth.
        if let Some(store) = &config_store {
            if file.stores.source_of_truth != bifrost_store::SourceOfTruth::ConfigJson {
                if let Some(patch) = store
                    .client_config()
                    .await
                    .context("config_store: reading the client config")?
                {
                    let patch: api::config::ClientPatch = serde_json::from_value(patch)
                        .context("config_store: the stored client config")?;
                    patch.apply_to(&mut file);
                }
            }
        }
        let mut labels: Vec<String> = Vec::new();
        for l in cli.prometheus_labels.iter().chain(&file.prometheus_labels) {
            let l = l.trim().to_ascii_lowercase().replace('-', "_");
            if !l.is_empty() && !labels.contains(&l) {
                labels.push(l);
            }
        }
        let metrics = Arc::new(metrics::Metrics::new(&labels).map_err(|e| anyhow::anyhow!(e))?);

        let stores = std::mem::take(&mut file.stores);
        let env_snapshot = env_snapshot(&file.provider_json, env);
        let cp_env: control::Env = Arc::new(move |k: &str| {
            env_snapshot
                .get(k)
                .cloned()
                .or_else(|| std::env::var(k).ok())
        });
        let has_file = !file.provider_json.is_empty() || cli.config.is_some() || path_exists;
        let file_stored: Vec<StoredProvider> = file
            .provider_json
            .iter()
            .map(|(n, v)| control::stored(n, v, "file"))
            .collect();
        let file_names: HashSet<String> = file_stored.iter().map(|p| p.name.clone()).collect();
        // Detected from the environment, and the built-in mock: served, not stored.
        let mut fixed = Vec::new();
        if !has_file {
            fixed = std::mem::take(&mut file.providers);
        }
        let mock_url = {
            #[cfg(feature = "mock")]
            {
                mock.as_ref().map(MockServer::url)
            }
            #[cfg(not(feature = "mock"))]
            {
                None::<String>
            }
        };
        let editable = match &config_store {
            Some(store) => {
                for d in store
                    .import_file(&file_stored, stores.source_of_truth)
                    .await
                    .context("config_store: importing config.json's providers")?
                {
                    import_log.push(format!(
                        "provider {}: {} wins ({})",
                        d.provider, d.winner, d.reason
                    ));
                }
                store
                    .providers()
                    .await
                    .context("config_store: reading providers")?
            }
            None => file_stored,
        };
        let mut account = StaticAccount::new();
        for p in &editable {
            let mut entry = control::entry(p, &*cp_env)
                .map_err(|e| anyhow::anyhow!("config store, provider {}: {e}", p.name))?;
            control::fix_mock(&mut entry, mock_url.as_deref());
            account = account.with_provider(entry.name, entry.config, entry.keys);
        }
        for f in &fixed {
            if !editable.iter().any(|p| p.name == f.name) {
                account = account.with_provider(f.name.clone(), f.config.clone(), f.keys.clone());
            }
        }
        let mut engine_cfg = BifrostConfig::new(account);
        // The command line wins over the file for the life of the process.
        engine_cfg.initial_pool_size = cli
            .pool_size
            .or(file.initial_pool_size)
            .unwrap_or(engine_cfg.initial_pool_size);
        engine_cfg.drop_excess_requests = cli
            .drop_excess_requests
            .or(file.drop_excess_requests)
            .unwrap_or(false);
        engine_cfg.shutdown_timeout = DRAIN_TIMEOUT;
        let aliases: std::collections::HashMap<_, _> = file.aliases.into_iter().collect();
        engine_cfg.aliases = aliases.clone();
        // Request logs: the SQLite default in the app dir unless `logs_store` says otherwise.
        let log_store = if stores.enable_logging {
            open_store(
                "logs_store",
                stores.logs_store.as_ref(),
                &dir.join("logs.db"),
                env,
                |b| async move { LogStore::open(&b).await },
            )
            .await?
        } else {
            None
        };
        let logs = log_store.clone().map(|store| {
            let retention_days =
                Arc::new(std::sync::atomic::AtomicU32::new(stores.log_retention_days));
            logs::spawn_retention(store.clone(), retention_days.clone());
            logs::RequestLogs {
                retention_days,
                writer: LogWriter::spawn(
                    store,
                    stores.log_queue_size,
                    1000,
                    Duration::from_millis(500),
                ),
                settings: Arc::new(arc_swap::ArcSwap::from_pointee(logs::LogSettings {
                    content: !stores.disable_content_logging,
                    headers: stores.logging_headers.clone(),
                })),
                closing: tokio::sync::watch::channel(false).0,
            }
        });
        let governance = governance_service(
            std::mem::take(&mut file.governance),
            config_store.clone(),
            stores.source_of_truth,
            &metrics,
        )
        .await?;
        // The built-in plugins, in the original's order: telemetry first (it sees every
        // outcome), traces after, then the request log, then governance (so the first three
        // see its refusals).
        engine_cfg.plugins = vec![metrics.clone(), Arc::new(otel::OtelPlugin)];
        if logs.is_some() {
            engine_cfg.plugins.push(Arc::new(logs::RequestLogger));
        }
        engine_cfg
            .plugins
            .push(Arc::new(governance::GovernancePlugin(governance.clone())));
        let engine = Bifrost::init(engine_cfg).map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let control = control::ControlPlane::new(control::ControlParts {
            engine: engine.clone(),
            store: config_store,
            mode: stores.source_of_truth,
            file_names,
            fixed,
            aliases,
            mock_url,
            env: cp_env,
            providers: editable,
        });
        control.watch();

        // Hashing the password and deriving the session key take tens of milliseconds of CPU.
        let auth_config = file.auth.clone();
        let whitelist = file.whitelisted_routes.clone();
        let auth =
            tokio::task::spawn_blocking(move || auth::AdminAuth::new(&auth_config, whitelist))
                .await
                .context("setting up admin auth")?
                .map_err(|e| anyhow::anyhow!("auth_config: {e}"))?;
        let enable_pprof = file
            .enable_pprof
            .unwrap_or(is_loopback_host(&cli.host) || auth.is_enabled());
        let mut health = health::Readiness::default();
        health.skip_in_health = file.disable_db_pings_in_health;
        if let Some(store) = control.store() {
            health.register(Arc::new(health::StoreCheck::config(store.clone())));
        }
        if let Some(store) = &log_store {
            health.register(Arc::new(health::StoreCheck::logs(store.clone())));
        }

        let body_limit = file.max_request_body_bytes.unwrap_or(DEFAULT_BODY_LIMIT);
        if let Some(cap) = file.max_request_bytes_in_flight {
            if cap < body_limit {
                anyhow::bail!(
                    "client.max_request_bytes_in_flight_mb ({} MB) must be at least \
                     client.max_request_body_size_mb ({} MB): one body could never be read",
                    cap / (1024 * 1024),
                    body_limit / (1024 * 1024)
                );
            }
        }
        Ok(Self {
            state: AppState(Arc::new(AppStateInner {
                engine,
                settings: Arc::new(Settings {
                    max_request_body_bytes: body_limit,
                    body_budget: body::BodyBudget::new(
                        file.max_request_bytes_in_flight
                            .unwrap_or(DEFAULT_BODIES_IN_FLIGHT.max(body_limit)),
                    ),
                    prometheus_labels: labels,
                    allow_direct_keys: file.allow_direct_keys.into(),
                    enable_pprof,
                }),
                metrics,
                logs,
                log_store,
                control: Some(control),
                auth: Arc::new(auth),
                cors: Arc::new(arc_swap::ArcSwap::from_pointee(cors::Cors::new(&file.cors))),
                health: Arc::new(health),
                governance,
            })),
            source,
            warnings: file.warnings.into_iter().chain(import_log).collect(),
            #[cfg(feature = "mock")]
            mock,
            otel,
            server: server::ServerOptions::from_fd_limit(),
        })
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
    /// (up to [`DRAIN_TIMEOUT`]) and returns.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let engine = self.state.engine.clone();
        let logs = self.state.logs.clone();
        let governance = self.state.governance.clone();
        // The state is applied: each connection gets a clone of the shared router (an `Arc`),
        // not a re-application of the state (≈50 KB per connection with the full API).
        let app = router(self.state);
        // Returns once `shutdown` resolves, with the listener already closed (new clients are
        // refused at once rather than left in the backlog until exit).
        let connections = server::serve(listener, app, self.server, shutdown).await;
        tracing::info!("shutting down: draining in-flight requests");
        if let Some(l) = &logs {
            l.closing.send_replace(true);
        }
        let drained = async {
            let (all_done, ()) = tokio::join!(engine.shutdown(), connections);
            all_done
        };
        match tokio::time::timeout(DRAIN_TIMEOUT, drained).await {
            Ok(true) => tracing::info!("all in-flight requests finished"),
            _ => tracing::warn!("drain timeout reached; exiting with requests still open"),
        }
        // Usage of the requests just drained, then their rows.
        governance.drain(Duration::from_secs(5)).await;
        if let Some(l) = &logs {
            l.writer.close(Duration::from_secs(5)).await;
        }
        #[cfg(feature = "mock")]
        if let Some(m) = self.mock {
            m.shutdown();
        }
        Ok(())
    }
}

/// The governance service: its entities (config.json's, kept in the config store with the
/// API's), its counters (in memory, or Redis shared by replicas) and its prices.
async fn governance_service(
    g: config::GovernanceConfig,
    store: Option<ConfigStore>,
    mode: bifrost_store::SourceOfTruth,
    metrics: &metrics::Metrics,
) -> anyhow::Result<Arc<governance::Governance>> {
    use governance::counters::{Counters, OnFailure};
    let counters = match &g.kv {
        config::KvStore::Memory => {
            tracing::info!(
                "governance: counters in memory — limits and budgets are per replica (set \
                 kv_store to redis to share them)"
            );
            Counters::memory()
        }
        config::KvStore::Redis {
            host,
            port,
            username,
            password,
            db,
            timeout,
        } => {
            let mut rc = redis::RedisConnectionInfo::default().set_db(*db);
            if let Some(u) = username {
                rc = rc.set_username(u);
            }
            if let Some(p) = password {
                rc = rc.set_password(p);
            }
            let info = redis::IntoConnectionInfo::into_connection_info(redis::ConnectionAddr::Tcp(
                host.clone(),
                *port,
            ))
            .map_err(|e| anyhow::anyhow!("kv_store.redis: {e}"))?
            .set_redis_settings(rc)
            // redis-rs leaves Nagle on: a reservation written while another is unacknowledged
            // would wait for that reply first, on every request of a busy replica.
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
            let client =
                redis::Client::open(info).map_err(|e| anyhow::anyhow!("kv_store.redis: {e}"))?;
            tracing::info!(
                kv_store = %g.kv.describe(),
                on_store_failure = match g.on_store_failure {
                    OnFailure::Open => "open: requests pass, limited per replica, while Redis is down",
                    OnFailure::Closed => "closed: requests get 503 while Redis is down",
                },
                "governance: counters in Redis, exact across replicas"
            );
            Counters::redis(client, g.on_store_failure, *timeout).map_err(|e| anyhow::anyhow!(e))?
        }
    };
    let pricing = Arc::new(governance::pricing::Pricing::new(g.overrides));
    if let Some(url) = g.pricing_url.clone() {
        pricing.spawn_refresh(url, g.pricing_sync_interval);
    }
    let entities = match &store {
        Some(s) => {
            let stored = governance::store::load(s)
                .await
                .map_err(|e| anyhow::anyhow!("config_store: {e}"))?;
            import_entities(s, &g.entities, &stored, mode).await?;
            governance::store::load(s)
                .await
                .map_err(|e| anyhow::anyhow!("config_store: {e}"))?
        }
        None => g.entities,
    };
    let gm = governance::GovMetrics::new(metrics.registry()).map_err(|e| anyhow::anyhow!(e))?;
    let gov = governance::Governance::new(entities, counters, pricing, g.settings, store, Some(gm))
        .map_err(|e| anyhow::anyhow!("governance: {e}"))?;
    gov.watch();
    Ok(gov)
}

/// Writes config.json's governance entities into the store: the file wins for the entities it
/// names unless the database is the source of truth (then only missing ones are added).
async fn import_entities(
    store: &ConfigStore,
    file: &governance::model::Entities,
    stored: &governance::model::Entities,
    mode: bifrost_store::SourceOfTruth,
) -> anyhow::Result<()> {
    use governance::store::put;
    let keep = mode == bifrost_store::SourceOfTruth::Database;
    macro_rules! import {
        ($list:ident, $kind:literal) => {
            for e in &file.$list {
                let exists = stored.$list.iter().any(|s| s.id == e.id);
                if keep && exists {
                    continue;
                }
                let v = serde_json::to_value(e)?;
                put(store, $kind, &e.id, &v)
                    .await
                    .map_err(|e| anyhow::anyhow!("config_store: {e}"))?;
            }
        };
    }
    import!(budgets, "budget");
    import!(rate_limits, "rate_limit");
    import!(customers, "customer");
    import!(teams, "team");
    import!(virtual_keys, "virtual_key");
    import!(model_configs, "model_config");
    Ok(())
}

/// The values of the `env.NAME` references in the file's providers, looked up now: the
/// management API re-validates stored providers later with the same environment.
fn env_snapshot(
    providers: &[(String, serde_json::Value)],
    env: &dyn Fn(&str) -> Option<String>,
) -> HashMap<String, String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => {
                if let Some(name) = s.strip_prefix("env.") {
                    out.push(name.to_owned());
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    for (_, v) in providers {
        walk(v, &mut names);
    }
    names
        .into_iter()
        .filter_map(|n| env(&n).map(|v| (n, v)))
        .collect()
}

/// Opens the store that the `config_store` / `logs_store` section `section` names (`None`: the
/// section turns it off; an absent section means SQLite at `default_sqlite`).
async fn open_store<S, Fut>(
    section: &str,
    value: Option<&serde_json::Value>,
    default_sqlite: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    open: impl FnOnce(Backend) -> Fut,
) -> anyhow::Result<Option<S>>
where
    Fut: Future<Output = Result<S, bifrost_store::StoreError>>,
{
    let value = value.unwrap_or(&serde_json::Value::Null);
    let Some(b) = Backend::from_section(section, value, default_sqlite, env)? else {
        return Ok(None);
    };
    let described = b.describe();
    let store = open(b)
        .await
        .with_context(|| format!("{section}: {described}"))?;
    tracing::info!(store = %described, "{} open", section.replace('_', " "));
    Ok(Some(store))
}

fn read_config(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    config::parse(&text, env).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(super::is_loopback_host(h), "{h}");
        }
        for h in [
            "0.0.0.0",
            "::",
            "10.0.0.1",
            "example.com",
            "localhost.example.com",
        ] {
            assert!(!super::is_loopback_host(h), "{h}");
        }
    }
}
