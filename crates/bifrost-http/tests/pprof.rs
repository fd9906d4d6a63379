//! `/debug/pprof/*` over loopback: the bodies are gzipped pprof `Profile` protobufs with
//! function names, one CPU profile runs at a time, and bad `seconds` are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(not(target_env = "msvc"))]

use pprof::protos::{Message as _, Profile};
use serde_json::Value;
use std::io::Read as _;
use std::time::{Duration, Instant};

/// As in the gateway binary, so the heap profile sees this process's allocations.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

async fn serve() -> String {
    let app: axum::Router = bifrost_http::pprof::router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Serialises the CPU tests: the profiler is process-wide and tests share the process.
static CPU: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Checks and decodes a profile response; with `PPROF_TEST_SAVE_DIR` set, keeps the body as
/// `DIR/NAME.pb.gz` (for `go tool pprof -top`).
async fn decode(resp: reqwest::Response, name: &str) -> Profile {
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/octet-stream"
    );
    let gz = resp.bytes().await.unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "not gzip");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .unwrap();
    if let Some(dir) = std::env::var_os("PPROF_TEST_SAVE_DIR") {
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{name}.pb.gz")),
            &gz,
        )
        .unwrap();
    }
    Profile::parse_from_bytes(&raw).unwrap()
}

fn function_names(p: &Profile) -> Vec<&str> {
    p.function
        .iter()
        .map(|f| p.string_table[f.name as usize].as_str())
        .collect()
}

/// Checks that one of `p`'s functions has `name` in its name.
fn assert_names_function(p: &Profile, name: &str) {
    let names = function_names(p);
    assert!(
        names.iter().any(|n| n.contains(name)),
        "no {name} among {} functions: {:?}",
        names.len(),
        &names[..names.len().min(20)]
    );
}

fn sample_types(p: &Profile) -> Vec<&str> {
    p.sample_type
        .iter()
        .map(|t| p.string_table[t.ty as usize].as_str())
        .collect()
}

/// A CPU profile of `seconds` from the server at `url`.
async fn cpu_profile(client: &reqwest::Client, url: &str, seconds: &str) -> reqwest::Response {
    client
        .get(format!("{url}/debug/pprof/profile?seconds={seconds}"))
        .send()
        .await
        .unwrap()
}

async fn error_code(resp: reqwest::Response, status: u16) -> String {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    body["error"]["code"].as_str().unwrap().to_owned()
}

#[inline(never)]
fn burn_cpu(until: Instant) -> u64 {
    let mut x = 0u64;
    while Instant::now() < until {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_profile_has_named_samples_and_runs_one_at_a_time() {
    let _cpu = CPU.lock().await;
    let url = serve().await;
    let client = reqwest::Client::new();

    for bad in ["0", "abc", "301", "-1", ""] {
        let resp = cpu_profile(&client, &url, bad).await;
        assert_eq!(error_code(resp, 400).await, "invalid_request", "{bad}");
    }

    let burner = std::thread::spawn(|| burn_cpu(Instant::now() + Duration::from_secs(3)));
    let first = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { cpu_profile(&client, &url, "2").await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = cpu_profile(&client, &url, "1").await;
    assert_eq!(error_code(second, 409).await, "profile_in_progress");

    let started = Instant::now();
    let profile = decode(first.await.unwrap(), "cpu").await;
    assert!(started.elapsed() >= Duration::from_millis(1500));
    burner.join().unwrap();

    assert!(!profile.sample.is_empty(), "no samples");
    assert_eq!(sample_types(&profile), ["samples", "cpu"]);
    assert_eq!(profile.period, 10_000_000, "100 Hz");
    assert!(profile.mapping[0].has_functions, "marked symbolized");
    assert_names_function(&profile, "burn_cpu");

    // The sampler's own unwinding frames are gone from the leaves.
    for s in &profile.sample {
        let leaf = profile
            .location
            .iter()
            .find(|l| l.id == s.location_id[0])
            .unwrap();
        for line in &leaf.line {
            let f = profile
                .function
                .iter()
                .find(|f| f.id == line.function_id)
                .unwrap();
            let name = &profile.string_table[f.name as usize];
            assert!(!name.starts_with("backtrace::backtrace::"), "leaf {name}");
        }
    }

    // The slot is free again.
    decode(cpu_profile(&client, &url, "1").await, "cpu-again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_frees_the_cpu_profiler() {
    let _cpu = CPU.lock().await;
    let url = serve().await;
    let client = reqwest::Client::new();
    let gone = client
        .get(format!("{url}/debug/pprof/profile?seconds=60"))
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(gone.is_err(), "a 60 s profile answered within 500 ms");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let resp = cpu_profile(&client, &url, "1").await;
        if resp.status() == 200 {
            decode(resp, "cpu-after-abandoned").await;
            break;
        }
        assert_eq!(error_code(resp, 409).await, "profile_in_progress");
        assert!(
            Instant::now() < deadline,
            "the abandoned profile still holds the slot"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[inline(never)]
fn retain_heap() -> Vec<Vec<u8>> {
    // 32 x 4 MiB, twice the 2 MiB sampling interval.
    (0..32).map(|i| vec![i as u8; 4 << 20]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heap_profile_is_active_and_symbolized() {
    // The options baked in by .cargo/config.toml took effect.
    assert!(
        tikv_jemalloc_ctl::profiling::prof::read().unwrap(),
        "opt.prof"
    );
    assert_eq!(
        tikv_jemalloc_ctl::profiling::lg_prof_sample::read().unwrap(),
        21
    );
    assert!(bifrost_http::pprof::heap_profiling_active());
    // Freed memory is returned while idle (RSS falls back after a burst).
    assert!(tikv_jemalloc_ctl::background_thread::read().unwrap());

    let retained = retain_heap();
    let url = serve().await;
    let resp = reqwest::get(format!("{url}/debug/pprof/heap"))
        .await
        .unwrap();
    let profile = decode(resp, "heap").await;
    drop(std::hint::black_box(retained));

    assert_eq!(sample_types(&profile), ["inuse_space"]);
    let drop_frames = &profile.string_table[profile.drop_frames as usize];
    assert!(drop_frames.contains("_rjem_"), "{drop_frames:?}");
    // Marked symbolized, so `go tool pprof` keeps these names rather than re-reading the binary.
    let main = &profile.mapping[0];
    assert!(main.has_functions && main.has_filenames && main.has_line_numbers);
    assert!(!profile.sample.is_empty(), "no samples");
    let total: i64 = profile.sample.iter().map(|s| s.value[0]).sum();
    assert!(total >= 64 << 20, "in-use bytes {total} < 64 MiB");
    assert_names_function(&profile, "retain_heap");
}

/// Re-runs [`heap_disarmed_child`] in a child process whose jemalloc starts with sampling off,
/// as `_RJEM_MALLOC_CONF=prof_active:false` does for the gateway.
#[test]
fn a_disarmed_heap_profiler_answers_501() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "heap_disarmed_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("_RJEM_MALLOC_CONF", "prof_active:false")
        .env("PPROF_TEST_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[tokio::test]
async fn heap_disarmed_child() {
    if std::env::var_os("PPROF_TEST_CHILD").is_none() {
        return;
    }
    assert!(!bifrost_http::pprof::heap_profiling_active());
    let url = serve().await;
    let resp = reqwest::get(format!("{url}/debug/pprof/heap"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "profiling_unavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("prof_active:false"),
        "{body}"
    );
}

#[tokio::test]
async fn index_lists_the_profiles() {
    let url = serve().await;
    let text = reqwest::get(format!("{url}/debug/pprof/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("/debug/pprof/profile"), "{text}");
    assert!(text.contains("/debug/pprof/heap"), "{text}");
}
