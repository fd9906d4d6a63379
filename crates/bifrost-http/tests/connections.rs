//! Inbound connections (issue "Proof under fire" #7): a client that sends half a request head,
//! or a keep-alive connection left idle, is closed after the header-read timeout (on tokio's
//! paused clock); at the cap a new connection takes the slot of the oldest that sent nothing,
//! else it gets a 503 and is closed, and a freed slot is usable again; the binary raises its
//! soft open-file limit and sizes the cap from it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bifrost_http::cli::Cli;
use bifrost_http::server::HEADER_READ_TIMEOUT;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONFIG: &str = r#"{"providers":{"mock":{}}}"#;

fn addr(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection; what it sent.
async fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    out
}

/// Waits for the server to close `s` (`what`, if it never does), and checks that it did so
/// one header-read timeout after `since`; what it sent.
async fn closed_by_timeout(s: &mut TcpStream, since: tokio::time::Instant, what: &str) -> Vec<u8> {
    let sent = tokio::time::timeout(HEADER_READ_TIMEOUT * 4, read_until_closed(s))
        .await
        .expect(what);
    let waited = since.elapsed();
    assert!(
        waited >= HEADER_READ_TIMEOUT && waited < HEADER_READ_TIMEOUT + Duration::from_secs(2),
        "closed after {waited:?}"
    );
    sent
}

/// Sends a last request on `s`; the answer, read to the close.
async fn last_request(s: &mut TcpStream) -> String {
    s.write_all(b"GET /api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    String::from_utf8_lossy(&read_until_closed(s).await).into_owned()
}

/// The gateway with room for `n` connections, and its address.
async fn capped(n: usize) -> (common::TestGateway, String) {
    let mut gw = common::load(CONFIG, &[], Cli::default()).await.unwrap();
    gw.server.max_connections = n;
    let gw = common::serve(gw).await;
    let a = addr(&gw.url);
    (gw, a)
}

#[tokio::test]
async fn half_a_request_head_and_an_idle_connection_are_closed_after_the_timeout() {
    let gw = common::start(CONFIG).await;
    // From here on the clock only moves when every task waits: the server's timer is virtual.
    tokio::time::pause();
    let t0 = tokio::time::Instant::now();

    let mut slow = TcpStream::connect(addr(&gw.url)).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let sent = closed_by_timeout(&mut slow, t0, "a half-sent head is not held forever").await;
    assert!(!String::from_utf8_lossy(&sent).contains("200 OK"));

    // A keep-alive connection: one exchange (a route that waits on nothing: `/health` probes
    // with timeouts, which the paused clock would fire), then silence.
    let mut idle = TcpStream::connect(addr(&gw.url)).await.unwrap();
    idle.write_all(b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let t1 = tokio::time::Instant::now();
    closed_by_timeout(&mut idle, t1, "an idle keep-alive connection is closed").await;

    // A connection that never sends a byte (the auto builder's HTTP/1-or-2 sniffing had no
    // timer: the slow-clients benchmark found 10,000 of them held for good).
    let mut silent = TcpStream::connect(addr(&gw.url)).await.unwrap();
    let t2 = tokio::time::Instant::now();
    closed_by_timeout(&mut silent, t2, "a silent connection is closed").await;

    // Stopping does not wait out the timeout of a connection that has not spoken yet.
    let _quiet = TcpStream::connect(addr(&gw.url)).await.unwrap();
    tokio::task::yield_now().await;
    let t3 = tokio::time::Instant::now();
    gw.stop().await;
    assert!(
        t3.elapsed() < HEADER_READ_TIMEOUT,
        "stop took {:?}",
        t3.elapsed()
    );
}

#[tokio::test]
async fn connections_over_the_cap_get_a_503_and_a_freed_slot_is_usable() {
    let (gw, a) = capped(2).await;

    // Two connections hold the two slots, both kept alive after a request.
    let first = spoken(&a).await;
    let second = spoken(&a).await;

    // The third is told, in JSON, and closed.
    let mut third = TcpStream::connect(&a).await.unwrap();
    let _ = third
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = String::from_utf8_lossy(&read_until_closed(&mut third).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(
        answer.contains(r#""code":"too_many_connections""#),
        "{answer}"
    );

    // One slot freed: a new client is served again (the server sees the close asynchronously).
    drop(second);
    let mut served = false;
    for _ in 0..200 {
        let r = reqwest::Client::new()
            .get(format!("{}/health", gw.url))
            .header("connection", "close")
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == 200) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served, "a freed slot is reused");
    drop(first);
    gw.stop().await;
}

#[tokio::test]
async fn too_many_or_too_large_request_headers_get_a_431_that_says_so() {
    let gw = common::start(CONFIG).await;
    let send = |extra: Vec<(String, String)>| {
        let url = format!("{}/v1/chat/completions", gw.url);
        async move {
            let mut req = reqwest::Client::new().post(url).body(
                r#"{"model":"mock/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#,
            );
            for (n, v) in extra {
                req = req.header(n, v);
            }
            let resp = req
                .header("content-type", "application/json")
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }
    };
    let many: Vec<_> = (0..150)
        .map(|i| (format!("x-h{i}"), "v".to_owned()))
        .collect();
    let (status, body) = send(many).await;
    assert_eq!(status, 431);
    assert!(
        body.contains(r#""code":"request_header_fields_too_large""#),
        "{body}"
    );
    assert!(body.contains("more than 100 request headers"), "{body}");

    let big = vec![("x-big".to_owned(), "a".repeat(100 * 1024))];
    let (status, body) = send(big).await;
    assert_eq!(status, 431);
    assert!(
        body.contains("more than 64 KiB of request headers"),
        "{body}"
    );

    // Within the limits the request is served.
    let fine: Vec<_> = (0..50)
        .map(|i| (format!("x-h{i}"), "v".repeat(100)))
        .collect();
    assert_eq!(send(fine).await.0, 200);
    gw.stop().await;
}

/// A keep-alive connection that has had one exchange.
async fn spoken(a: &str) -> TcpStream {
    let mut s = TcpStream::connect(a).await.unwrap();
    s.write_all(b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 2048];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    s
}

#[tokio::test]
async fn at_the_cap_a_new_connection_takes_the_slot_of_the_oldest_silent_one() {
    let (gw, a) = capped(3).await;

    let talker = spoken(&a).await;
    let mut older = TcpStream::connect(&a).await.unwrap();
    // Accepted in order: the older silent one is registered first.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut newer = TcpStream::connect(&a).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    // The cap is full; a client with a request is served, and the oldest silent connection,
    // not the newer one nor the one that spoke, is closed for it.
    let mut fresh = TcpStream::connect(&a).await.unwrap();
    let answer = last_request(&mut fresh).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let closed = tokio::time::timeout(Duration::from_secs(5), read_until_closed(&mut older))
        .await
        .expect("the oldest silent connection is closed");
    assert!(closed.is_empty(), "closed without an answer");
    // The newer silent one still holds its slot: a request on it is served.
    let answer = last_request(&mut newer).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(talker);
    gw.stop().await;
}

#[tokio::test]
async fn the_binary_raises_its_open_file_limit_and_sizes_the_cap_from_it() {
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
    if hard <= 256 {
        eprintln!("hard open-file limit {hard}: nothing to raise here");
        return;
    }
    let port = common::free_port();
    // A soft limit of 256, as some systems start services with.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 256 && exec timeout -s TERM 3 {} -port {port} -log-style json",
            common::BIN
        ))
        .env("XDG_CONFIG_HOME", common::app_dir())
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let raised = log
        .lines()
        .find(|l| l.contains("raised the open-file limit"))
        .unwrap_or_else(|| panic!("no raise logged:\n{log}"));
    assert!(raised.contains(r#""before":256"#), "{raised}");
    assert!(raised.contains(&format!(r#""after":{hard}"#)), "{raised}");
    let listening = log
        .lines()
        .find(|l| l.contains("listening on"))
        .unwrap_or_else(|| panic!("no start logged:\n{log}"));
    let cap = bifrost_http::server::connections_for(hard);
    assert!(
        listening.contains(&format!(r#""max_connections":{cap}"#)),
        "{listening}"
    );
}
