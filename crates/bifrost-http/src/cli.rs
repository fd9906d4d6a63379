//! Command-line flags, parsed the way Go's `flag` package does, because the seed's commands
//! (`-config config.json -port 8080 -drop-excess-requests=false`) must work verbatim: one or two
//! leading dashes, the value after `=` or as the next argument, booleans with no separate
//! argument, `-h`/`-help` for usage, an unknown flag is an error (exit 2).

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub struct Cli {
    pub config: Option<PathBuf>,
    pub app_dir: Option<PathBuf>,
    pub host: String,
    pub port: u16,
    pub pool_size: Option<usize>,
    pub drop_excess_requests: Option<bool>,
    pub prometheus_labels: Vec<String>,
    pub plugins: Vec<String>,
    pub log_level: String,
    pub log_style: String,
}

impl Default for Cli {
    fn default() -> Self {
        Self {
            config: None,
            app_dir: None,
            host: std::env::var("BIFROST_HOST").unwrap_or_else(|_| "127.0.0.1".to_owned()),
            port: 8080,
            pool_size: None,
            drop_excess_requests: None,
            prometheus_labels: Vec::new(),
            plugins: Vec::new(),
            log_level: std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".to_owned()),
            log_style: "json".to_owned(),
        }
    }
}

#[derive(Debug, PartialEq)]
pub enum CliError {
    /// `-h`, `-help`: print usage, exit 0.
    Help,
    /// Print the message and usage, exit 2.
    Invalid(String),
}

struct Flag {
    name: &'static str,
    boolean: bool,
    arg: &'static str,
    help: &'static str,
}

const FLAGS: &[Flag] = &[
    Flag { name: "config", boolean: false, arg: "file", help: "config file (default <app-dir>/config.json; without one, providers are detected from OPENAI_API_KEY, ANTHROPIC_API_KEY, …)" },
    Flag { name: "app-dir", boolean: false, arg: "dir", help: "application directory holding config.json (default ~/.config/bifrost)" },
    Flag { name: "host", boolean: false, arg: "addr", help: "address to listen on (default 127.0.0.1, env BIFROST_HOST; 0.0.0.0 for all interfaces)" },
    Flag { name: "port", boolean: false, arg: "n", help: "port to listen on (default 8080)" },
    Flag { name: "pool-size", boolean: false, arg: "n", help: "initial pool size; overrides initial_pool_size in the config (default 5000)" },
    Flag { name: "drop-excess-requests", boolean: true, arg: "", help: "answer 503 at once when a provider's queue is full instead of waiting (default false)" },
    Flag { name: "prometheus-labels", boolean: false, arg: "a,b", help: "custom Prometheus label names, values from x-bf-prom-<name> headers" },
    Flag { name: "plugins", boolean: false, arg: "a,b", help: "built-in plugins to enable" },
    Flag { name: "log-level", boolean: false, arg: "level", help: "debug, info, warn or error (default info, env LOG_LEVEL)" },
    Flag { name: "log-style", boolean: false, arg: "style", help: "json or pretty (default json)" },
];

pub fn usage() -> String {
    let mut out = String::from("Usage of bifrost-http:\n");
    for f in FLAGS {
        let arg = if f.arg.is_empty() {
            String::new()
        } else {
            format!(" {}", f.arg)
        };
        out.push_str(&format!("  -{}{}\n    \t{}\n", f.name, arg, f.help));
    }
    out
}

fn parse_bool(flag: &str, v: &str) -> Result<bool, CliError> {
    // Go's strconv.ParseBool.
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(CliError::Invalid(format!(
            "invalid boolean value {v:?} for -{flag}: parse error"
        ))),
    }
}

fn parse_num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, CliError> {
    v.parse().map_err(|_| {
        CliError::Invalid(format!("invalid value {v:?} for flag -{flag}: parse error"))
    })
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, CliError> {
    let mut cli = Cli::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            // Go stops at the first non-flag argument; we take no positional arguments.
            return Err(CliError::Invalid(format!("unexpected argument {arg:?}")));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        if matches!(name, "h" | "help") {
            return Err(CliError::Help);
        }
        let flag = FLAGS
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| CliError::Invalid(format!("flag provided but not defined: -{name}")))?;
        let value = if flag.boolean {
            inline.unwrap_or_else(|| "true".to_owned())
        } else {
            match inline.or_else(|| args.next()) {
                Some(v) => v,
                None => {
                    return Err(CliError::Invalid(format!(
                        "flag needs an argument: -{name}"
                    )))
                }
            }
        };
        match name {
            "config" => cli.config = Some(PathBuf::from(value)),
            "app-dir" => cli.app_dir = Some(PathBuf::from(value)),
            "host" => cli.host = value,
            "port" => cli.port = parse_num(name, &value)?,
            "pool-size" => cli.pool_size = Some(parse_num(name, &value)?),
            "drop-excess-requests" => cli.drop_excess_requests = Some(parse_bool(name, &value)?),
            "prometheus-labels" => cli.prometheus_labels = list(&value),
            "plugins" => cli.plugins = list(&value),
            "log-level" => match value.as_str() {
                "debug" | "info" | "warn" | "error" | "trace" => cli.log_level = value,
                _ => {
                    return Err(CliError::Invalid(format!(
                    "invalid value {value:?} for flag -log-level: use debug, info, warn or error"
                )))
                }
            },
            "log-style" => match value.as_str() {
                "json" | "pretty" => cli.log_style = value,
                _ => {
                    return Err(CliError::Invalid(format!(
                        "invalid value {value:?} for flag -log-style: use json or pretty"
                    )))
                }
            },
            _ => {
                return Err(CliError::Invalid(format!(
                    "flag provided but not defined: -{name}"
                )))
            }
        }
    }
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_seed_command_line_parses() {
        let cli = parse(args(
            "-config config.json -port 8080 -pool-size 25000 -drop-excess-requests=false \
             -prometheus-labels team-id,service-id",
        ))
        .unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("config.json")));
        assert_eq!(cli.port, 8080);
        assert_eq!(cli.pool_size, Some(25000));
        assert_eq!(cli.drop_excess_requests, Some(false));
        assert_eq!(cli.prometheus_labels, vec!["team-id", "service-id"]);
    }

    #[test]
    fn go_flag_conventions() {
        let cli = parse(args(
            "--port=9000 -drop-excess-requests -host 0.0.0.0 -log-style pretty",
        ))
        .unwrap();
        assert_eq!((cli.port, cli.host.as_str()), (9000, "0.0.0.0"));
        assert_eq!(cli.drop_excess_requests, Some(true));
        assert_eq!(cli.log_style, "pretty");
        assert_eq!(parse(args("-h")), Err(CliError::Help));
        assert_eq!(parse(args("--help")), Err(CliError::Help));
        assert!(matches!(parse(args("-nope")), Err(CliError::Invalid(m)) if m.contains("-nope")));
        assert!(
            matches!(parse(args("-port")), Err(CliError::Invalid(m)) if m.contains("needs an argument"))
        );
        assert!(matches!(
            parse(args("-port abc")),
            Err(CliError::Invalid(_))
        ));
        assert!(matches!(
            parse(args("-drop-excess-requests=maybe")),
            Err(CliError::Invalid(_))
        ));
        // A boolean never takes the next argument as its value.
        assert!(matches!(
            parse(args("-drop-excess-requests false")),
            Err(CliError::Invalid(_))
        ));
    }

    #[test]
    fn usage_lists_every_flag() {
        let u = usage();
        for f in FLAGS {
            assert!(u.contains(&format!("-{}", f.name)));
        }
    }
}
