//! `bifrost-http`: the gateway binary.

use bifrost_http::cli::{self, CliError};
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
    init_tracing(&cli.log_level, &cli.log_style);
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
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("bifrost-http: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    let gateway = Gateway::load(&cli, &env).await?;
    for w in &gateway.warnings {
        tracing::warn!("{w}");
    }
    let addr = format!("{}:{}", cli.host, cli.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let engine = &gateway.state.engine;
    tracing::info!(
        source = %gateway.source,
        providers = %engine.providers().join(","),
        initial_pool_size = engine.initial_pool_size(),
        drop_excess_requests = engine.drop_excess_requests(),
        prometheus_labels = %gateway.state.settings.prometheus_labels.join(","),
        "bifrost-http listening on http://{}",
        listener.local_addr()?
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

fn init_tracing(level: &str, style: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if style == "pretty" {
        builder.init();
    } else {
        builder.json().init();
    }
}
