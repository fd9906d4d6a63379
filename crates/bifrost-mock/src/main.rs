//! `bifrost-mock` binary: runs the mock provider as a standalone server.

use std::process::ExitCode;
use std::time::Duration;

use bifrost_mock::{MockConfig, MockServer};

const USAGE: &str = "\
bifrost-mock: fast mock LLM provider (OpenAI + Anthropic + Gemini APIs)

USAGE: bifrost-mock [FLAGS]   (flags as `-flag value`, `--flag value` or `--flag=value`)

  -host HOST             address to bind (default 127.0.0.1)
  -port PORT             port to bind, 0 for any (default 9090)
  -latency-ms N          delay before response headers (default 0)
  -jitter-ms N           uniform extra delay 0..=N (default 0)
  -chunk-delay-ms N      delay before each streamed content chunk (default 0)
  -chunks N              content chunks per streamed reply (default 5)
  -fail-rate F           fraction 0..=1 of requests that fail (default 0)
  -fail-status CODE      status of injected failures (default 500)
  -faults LIST           injected failures picked at random, comma-separated: HTTP
                         statuses, `reset` (connection closed, no answer),
                         `hang` (answer only after -hang-ms); overrides -fail-status
  -hang-ms N             how long a `hang` fault holds the request (default 10000)
  -retry-after-ms N      retry hint sent with injected 429/503/529
  -response-size BYTES   pad/trim reply text to exactly BYTES
  -no-auth               accept requests without credentials
  -workers N             tokio worker threads (default: all cores)
  -h, --help             print this help
";

#[derive(Debug)]
struct Args {
    host: String,
    port: u16,
    workers: Option<usize>,
    config: MockConfig,
}

/// Parsed command line: either run with `Args` or print the help.
#[derive(Debug)]
enum Command {
    Run(Box<Args>),
    Help,
}

/// Flags that take a value (the others are `-no-auth` and `-h`/`--help`).
const VALUE_FLAGS: &[&str] = &[
    "host",
    "port",
    "latency-ms",
    "jitter-ms",
    "chunk-delay-ms",
    "chunks",
    "fail-rate",
    "fail-status",
    "faults",
    "hang-ms",
    "retry-after-ms",
    "response-size",
    "workers",
];

fn parse_num<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("invalid value for -{flag}: {value:?}"))
}

fn millis(flag: &str, value: &str) -> Result<Duration, String> {
    parse_num(flag, value).map(Duration::from_millis)
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut parsed = Args {
        host: "127.0.0.1".to_owned(),
        port: 9090,
        workers: None,
        // Nothing reads recordings out of the binary: keep only the last request.
        config: MockConfig {
            record_requests: false,
            ..MockConfig::default()
        },
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(flag) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|f| !f.is_empty())
        else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (flag, None),
        };
        match name {
            "h" | "help" => return Ok(Command::Help),
            "no-auth" => {
                parsed.config.require_auth = match inline.as_deref() {
                    None => false,
                    Some(v) => !parse_num::<bool>(name, v)?,
                };
                continue;
            }
            _ if !VALUE_FLAGS.contains(&name) => return Err(format!("unknown flag {arg:?}")),
            _ => {}
        }
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| format!("missing value for -{name}"))?,
        };
        let c = &mut parsed.config;
        match name {
            "host" => parsed.host = value,
            "port" => parsed.port = parse_num(name, &value)?,
            "latency-ms" => c.latency = millis(name, &value)?,
            "jitter-ms" => c.jitter = millis(name, &value)?,
            "chunk-delay-ms" => c.chunk_delay = millis(name, &value)?,
            "chunks" => c.chunks = parse_num(name, &value)?,
            "fail-rate" => {
                let rate: f64 = parse_num(name, &value)?;
                if !(0.0..=1.0).contains(&rate) {
                    return Err(format!("-fail-rate must be within 0..=1, got {rate}"));
                }
                c.fail_rate = rate;
            }
            "fail-status" => {
                let status: u16 = parse_num(name, &value)?;
                if !(100..=999).contains(&status) {
                    return Err(format!("-fail-status must be an HTTP status, got {status}"));
                }
                c.fail_status = status;
            }
            "faults" => {
                c.faults = value
                    .split(',')
                    .map(|f| f.trim().parse())
                    .collect::<Result<_, String>>()
                    .map_err(|e| format!("-faults: {e}"))?;
            }
            "hang-ms" => c.hang = millis(name, &value)?,
            "retry-after-ms" => c.retry_after = Some(millis(name, &value)?),
            "response-size" => c.response_size = Some(parse_num(name, &value)?),
            "workers" => {
                let workers: usize = parse_num(name, &value)?;
                if workers == 0 {
                    return Err("-workers must be at least 1".to_owned());
                }
                parsed.workers = Some(workers);
            }
            // Only reachable if VALUE_FLAGS lists a flag handled nowhere.
            _ => return Err(format!("unknown flag {arg:?}")),
        }
    }
    Ok(Command::Run(Box::new(parsed)))
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            res = tokio::signal::ctrl_c() => res,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    let server = MockServer::start_on(listener, args.config).await?;
    // Print the bound address (not the flag) so `-port 0` is usable by scripts.
    println!("bifrost-mock listening on {}", server.url());
    shutdown_signal().await?;
    server.shutdown();
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("bifrost-mock: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bifrost-mock: cannot start runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(*args)) {
        // Dropping the runtime cancels streams still in flight; that is the
        // expected outcome of a signal.
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bifrost-mock: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn both_flag_styles() {
        let Ok(Command::Run(args)) = parse(&[
            "-port",
            "0",
            "--latency-ms=20",
            "--chunks",
            "7",
            "-fail-rate=0.5",
            "-retry-after-ms",
            "1500",
            "-no-auth",
            "-workers=2",
            "-host",
            "0.0.0.0",
            "-faults",
            "500, 429,reset,hang",
            "-hang-ms=2000",
        ]) else {
            panic!("parse failed");
        };
        assert_eq!(args.port, 0);
        assert_eq!(args.host, "0.0.0.0");
        assert_eq!(args.workers, Some(2));
        assert_eq!(args.config.latency, Duration::from_millis(20));
        assert_eq!(args.config.chunks, 7);
        assert_eq!(args.config.fail_rate, 0.5);
        assert_eq!(args.config.retry_after, Some(Duration::from_millis(1500)));
        assert!(!args.config.require_auth);
        use bifrost_mock::Fault;
        assert_eq!(
            args.config.faults,
            [
                Fault::Status(500),
                Fault::Status(429),
                Fault::Reset,
                Fault::Hang
            ]
        );
        assert_eq!(args.config.hang, Duration::from_secs(2));
    }

    #[test]
    fn help_and_errors() {
        assert!(matches!(parse(&["-h"]), Ok(Command::Help)));
        assert!(matches!(parse(&["--help"]), Ok(Command::Help)));
        assert!(parse(&["-bogus", "1"]).is_err_and(|e| e.contains("unknown flag")));
        assert!(parse(&["-bogus"]).is_err_and(|e| e.contains("unknown flag")));
        assert!(parse(&["-port"]).is_err());
        assert!(parse(&["-port", "x"]).is_err());
        assert!(parse(&["-fail-rate", "2"]).is_err());
        assert!(parse(&["-faults", "500,teapot"]).is_err_and(|e| e.contains("teapot")));
        assert!(parse(&["stray"]).is_err());
        let Ok(Command::Run(args)) = parse(&[]) else {
            panic!("empty args must parse");
        };
        assert_eq!(args.port, 9090);
        assert!(args.config.require_auth);
    }
}
