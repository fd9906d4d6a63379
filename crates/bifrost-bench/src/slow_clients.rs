//! The `slow-clients` scenario: rate-1k beside idle and slowloris connections.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::load::measure;
use crate::options::Options;
use crate::procs::{spawn, start_gateway, start_mock, wait_listening};
use crate::report::us;
use crate::scenario::{body_for, scenarios, Vk};
use crate::GATEWAY_PORT;

/// 10,000 idle connections and 2,000 slowloris ones (a request head, then a header line a
/// second on each) to `port`.
struct Hostile {
    idle: Vec<TcpStream>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    trickle: std::thread::JoinHandle<Vec<Option<TcpStream>>>,
}

impl Hostile {
    fn open(port: u16) -> Result<Self> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let mut idle = Vec::with_capacity(10_000);
        for _ in 0..10_000 {
            idle.push(TcpStream::connect(("127.0.0.1", port))?);
        }
        let mut slow = Vec::with_capacity(2_000);
        for _ in 0..2_000 {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")?;
            slow.push(s);
        }
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let trickle = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut live: Vec<Option<TcpStream>> = slow.into_iter().map(Some).collect();
                // A line a second on each, spread over the second in 100 batches, as 2,000
                // independent clients would be (not one synchronised burst).
                let batch = live.len().div_ceil(100).max(1);
                while !stop.load(Ordering::Relaxed) {
                    for part in live.chunks_mut(batch) {
                        for s in part {
                            if let Some(sock) = s {
                                if sock.write_all(b"x-slow: 1\r\n").is_err() {
                                    *s = None;
                                }
                            }
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                live
            })
        };
        Ok(Self {
            idle,
            stop,
            trickle,
        })
    }

    /// Stops the trickle: the idle sockets, and the slowloris ones (`None` once a write failed).
    fn finish(self) -> (Vec<TcpStream>, Vec<Option<TcpStream>>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let live = self.trickle.join().unwrap_or_default();
        (self.idle, live)
    }
}

/// Slow clients (issue 16): rate-1k's p99 through the gateway alone, then again while 10,000
/// idle connections and 2,000 slowloris connections (a request head trickled a header line a
/// second) are held open; the p99 must stay within 2×. Also reports how many of the hostile
/// connections the gateway had closed by the end (its header-read timeout is 30 s).
pub(crate) fn slow_clients(opts: &Options) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "\n### slow-clients — rate-1k beside 10,000 idle and 2,000 slowloris connections\n"
    )?;
    // 12,000 sockets for this process, and room for the gateway (which inherits the limit and
    // caps its connections at about half of it): 65,536 where we may raise the hard limit
    // (root), else the hard limit as it is.
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    if rlimit::setrlimit(rlimit::Resource::NOFILE, 65_536, hard.max(65_536)).is_err() {
        rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard)?;
    }
    let (fds, _) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    writeln!(
        out,
        "Open-file limit of the bench and the gateway: {fds}.\n"
    )?;
    // The hostile sockets' work (connects, the trickle) stays on the load generator's CPU, off
    // the gateway's.
    let pin = |cpus: &str| {
        Command::new("taskset")
            .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status()
    };
    pin("0")?;
    let _mock = start_mock(opts, 0)?;
    let _gw = start_gateway(opts, true, Vk::None)?;
    let sc = scenarios()
        .into_iter()
        .find(|s| s.name == "rate-1k")
        .context("rate-1k")?;
    let url = format!("http://127.0.0.1:{GATEWAY_PORT}/v1/chat/completions");
    let body = body_for(&sc, false);
    let alone = measure(opts, &url, &body, &sc, None)?;

    // Control: the same hostile clients against a listener that only accepts (python, on the
    // load generator's CPU): what they cost the machine's other side, without the gateway.
    const CONTROL_PORT: u16 = 18081;
    let holder = spawn(
        0,
        "python3",
        &[
            "-c".into(),
            format!(
                "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                 s.bind(('127.0.0.1',{CONTROL_PORT}))\ns.listen(4096)\nheld=[]\n\
                 while True:\n    held.append(s.accept()[0])\n"
            ),
        ],
        &[],
    )?;
    wait_listening(CONTROL_PORT)?;
    let control = Hostile::open(CONTROL_PORT)?;
    let beside_control = measure(opts, &url, &body, &sc, None)?;
    drop(control.finish());
    drop(holder);

    let hostile = Hostile::open(GATEWAY_PORT)?;
    let opened = Instant::now();
    let beside = measure(opts, &url, &body, &sc, None)?;
    // Past the header-read timeout: count the idle sockets the gateway closed (read gives EOF).
    while opened.elapsed() < Duration::from_secs(35) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let (idle, live) = hostile.finish();
    // Closed by the gateway: answered 503 at the connection cap, or closed silently after the
    // timeout; still open otherwise.
    let (mut idle_refused, mut idle_closed) = (0, 0);
    for s in &idle {
        s.set_read_timeout(Some(Duration::from_millis(1)))?;
        let mut b = [0u8; 256];
        match (&*s).read(&mut b) {
            Ok(n) if b[..n].starts_with(b"HTTP/1.1 503") => idle_refused += 1,
            Ok(_) => idle_closed += 1,
            Err(_) => {}
        }
    }
    // A socket the gateway closed fails its next write and is dropped from the trickle.
    let slow_closed = live.iter().filter(|s| s.is_none()).count();
    // oha's success rate counts any answer; a 503 at the connection cap is a failure here.
    writeln!(
        out,
        "| run | RPS | 2xx | non-2xx | p50 / p99 / p99.9 (µs) |\n|---|---|---|---|---|"
    )?;
    for (name, r) in [
        ("alone", &alone),
        (
            "beside 12,000 hostile connections to a listener that only accepts (control)",
            &beside_control,
        ),
        ("beside 12,000 hostile connections to the gateway", &beside),
    ] {
        let answered = r.rps * opts.duration as f64;
        writeln!(
            out,
            "| {name} | {:.0} | {:.2}% | {} | {} / {} / {} |",
            r.rps,
            r.success * (answered - r.non_2xx as f64) / answered.max(1.0) * 100.0,
            r.non_2xx,
            us(r.pct[0]),
            us(r.pct[2]),
            us(r.pct[3])
        )?;
    }
    let _ = pin("0-1023");
    let ratio = beside.pct[2] / alone.pct[2];
    writeln!(
        out,
        "\np99 beside / alone: {ratio:.2}× ({}); beside / control: {:.2}×. After 35 s, of 10,000 idle connections {idle_refused} had been refused at the connection cap (503) and {idle_closed} closed (by the timeout, or to free a slot for a newer connection); {slow_closed} of 2,000 slowloris connections were closed.",
        if ratio <= 2.0 { "within 2×" } else { "**over 2×**" },
        beside.pct[2] / beside_control.pct[2],
    )?;
    Ok(out)
}
