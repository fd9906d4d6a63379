//! `bifrost-http`: the gateway binary.

use bifrost_http::cli::{self, CliError};
use bifrost_http::otel::{self, Telemetry};
use bifrost_http::Gateway;
use std::process::ExitCode;

/// jemalloc returns freed memory to the OS and fragments less than glibc's malloc under many
/// threads, which keeps RSS flat with thousands of requests in flight.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = match cli::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(CliError::Help) => {
            eprint!("{}", cli::usage());
            return ExitCode::SUCCESS;
        }
        Err(CliError::Invalid(msg)) => {
            eprintln!("{msg}");
            eprint!("{}", cli::usage());
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut telemetry = None;
    let code = match runtime.block_on(run(cli, &mut telemetry)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("bifrost-http: {e:#}");
            ExitCode::FAILURE
        }
    };
    drop(runtime);
    // Sends the spans still queued for export (bounded wait).
    if let Some(Err(e)) = telemetry.map(Telemetry::shutdown) {
        eprintln!("bifrost-http: {e:#}");
    }
    code
}

async fn run(cli: cli::Cli, telemetry: &mut Option<Telemetry>) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    // Logging starts once the configuration is read, since it also sets up the trace exporter
    // the configuration describes; a configuration error is still logged (and printed).
    let loaded = Gateway::load(&cli, &env).await;
    let otel_config = loaded.as_ref().ok().and_then(|g| g.otel.as_ref());
    *telemetry = Some(otel::init(&cli.log_level, &cli.log_style, otel_config)?);
    let gateway = loaded?;
    if let Some(o) = &gateway.otel {
        tracing::info!(
            endpoint = %o.endpoint,
            service_name = %o.service_name,
            "exporting traces over OTLP/HTTP"
        );
    }
    for w in &gateway.warnings {
        tracing::warn!("{w}");
    }
    match bifrost_http::server::raise_fd_limit() {
        Ok((before, after)) if after > before => {
            tracing::info!(
                before,
                after,
                "raised the open-file limit to the hard limit"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
    // After the raise: the cap follows the limit now in force.
    let mut gateway = gateway;
    gateway.server = bifrost_http::server::ServerOptions::from_fd_limit();
    let addr = format!("{}:{}", cli.host, cli.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    if !local.ip().is_loopback() && !gateway.state.auth.is_enabled() {
        tracing::warn!(
            "SECURITY: listening on {local}, which is reachable from the network, with admin \
             auth OFF: the management API (/api/*), /metrics and every inference route are open \
             to anyone who can reach this port. Set auth_config.is_enabled with admin \
             credentials, or listen on 127.0.0.1."
        );
    }
    let engine = &gateway.state.engine;
    tracing::info!(
        source = %gateway.source,
        providers = %engine.providers().join(","),
        initial_pool_size = engine.initial_pool_size(),
        drop_excess_requests = engine.drop_excess_requests(),
        prometheus_labels = %gateway.state.settings.prometheus_labels.join(","),
        admin_auth = gateway.state.auth.is_enabled(),
        pprof = gateway.state.settings.enable_pprof,
        max_connections = gateway.server.max_connections,
        "bifrost-http listening on http://{local}"
    );
    gateway.serve(listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
