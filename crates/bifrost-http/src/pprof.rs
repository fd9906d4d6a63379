//! `/debug/pprof/*`: CPU and heap profiles in the gzipped `profile.proto` format that
//! `go tool pprof http://HOST/debug/pprof/{profile,heap}` reads. Function names are embedded, so
//! the binary is not needed to read them.
//!
//! The heap profile needs jemalloc started with `prof:true`; `.cargo/config.toml` bakes
//! `prof:true,prof_active:true,lg_prof_sample:19` into the build (no `malloc_conf` symbol: this
//! workspace forbids unsafe code). `_RJEM_MALLOC_CONF=prof_active:false` disarms it at startup.

use axum::extract::RawQuery;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bifrost_core::BifrostError;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Sampling rate of the CPU profiler, as Go's `runtime/pprof` uses.
const CPU_HZ: i32 = 100;
const DEFAULT_SECONDS: u64 = 30;
const MAX_SECONDS: u64 = 300;

/// Frames in these objects are skipped: unwinding from a signal handler that interrupted them
/// (the dynamic loader's or libgcc's unwinder locks, the vDSO) can deadlock or crash.
const CPU_BLOCKLIST: &[&str] = &["libc", "libgcc", "pthread", "vdso"];

/// `GET /debug/pprof/`, `/debug/pprof/profile` and `/debug/pprof/heap`. Stateless, so it merges
/// into any router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/debug/pprof", get(index))
        .route("/debug/pprof/", get(index))
        .route("/debug/pprof/profile", get(cpu_profile))
        .route("/debug/pprof/heap", get(heap_profile))
}

async fn index() -> &'static str {
    "Bifrost-RS profiles (gzipped pprof profile.proto; read with `go tool pprof URL`):\n\
     \n\
     /debug/pprof/profile?seconds=N  CPU profile over N seconds (1-300, default 30), 100 Hz\n\
     /debug/pprof/heap               in-use heap (jemalloc, sampled every 512 KiB on average)\n"
}

/// One CPU profile at a time: the sampler is process-wide (`SIGPROF`).
static CPU_BUSY: AtomicBool = AtomicBool::new(false);

/// Holds [`CPU_BUSY`] until dropped, however the profile ends.
struct CpuSlot;

impl CpuSlot {
    fn acquire() -> Option<Self> {
        CPU_BUSY
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Self)
    }
}

impl Drop for CpuSlot {
    fn drop(&mut self) {
        CPU_BUSY.store(false, Ordering::Release);
    }
}

async fn cpu_profile(RawQuery(query): RawQuery) -> Response {
    let seconds = match parse_seconds(query.as_deref()) {
        Ok(s) => s,
        Err(msg) => return error(StatusCode::BAD_REQUEST, "invalid_request", msg),
    };
    let Some(slot) = CpuSlot::acquire() else {
        return error(
            StatusCode::CONFLICT,
            "profile_in_progress",
            "a CPU profile is already being taken; retry when it finishes".to_owned(),
        );
    };
    let guard = match pprof::ProfilerGuardBuilder::default()
        .frequency(CPU_HZ)
        .blocklist(CPU_BLOCKLIST)
        .build()
    {
        Ok(g) => g,
        Err(e) => return internal(format!("cannot start the CPU profiler: {e}")),
    };
    // If the client goes away, this future is dropped and `guard` and `slot` with it, which stops
    // the sampler and frees the slot.
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    // Symbolizing is CPU-bound; the guard (still sampling) and the slot move along so the next
    // profile cannot start before this one is finished.
    let built = tokio::task::spawn_blocking(move || {
        let report = guard.report().build();
        drop(guard);
        drop(slot);
        let profile = report.map_err(|e| e.to_string())?.pprof();
        let raw = pprof::protos::Message::write_to_bytes(&profile.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        gzip(&raw).map_err(|e| e.to_string())
    })
    .await;
    match built {
        Ok(Ok(body)) => profile_response(body),
        Ok(Err(e)) => internal(format!("cannot build the CPU profile: {e}")),
        Err(e) => internal(format!("cannot build the CPU profile: {e}")),
    }
}

/// `seconds` from the query string: absent means 30; otherwise an integer in 1..=300.
fn parse_seconds(query: Option<&str>) -> Result<u64, String> {
    let value = query
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| *k == "seconds")
        .map(|(_, v)| v)
        .last();
    let Some(value) = value else {
        return Ok(DEFAULT_SECONDS);
    };
    match value.parse::<u64>() {
        Ok(s) if (1..=MAX_SECONDS).contains(&s) => Ok(s),
        _ => Err(format!(
            "seconds must be an integer from 1 to {MAX_SECONDS}, got {value:?}"
        )),
    }
}

fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(raw)?;
    gz.finish()
}

#[cfg(not(target_env = "msvc"))]
async fn heap_profile() -> Response {
    let Some(ctl) = jemalloc_pprof::PROF_CTL.as_ref() else {
        return not_implemented(
            "heap profiling is off: jemalloc was not started with prof:true (the build bakes it \
             in through JEMALLOC_SYS_WITH_MALLOC_CONF in .cargo/config.toml)",
        );
    };
    let ctl = ctl.clone().lock_owned().await;
    if !ctl.activated() {
        return not_implemented(
            "heap profiling is off: jemalloc sampling is inactive (prof_active:false)",
        );
    }
    // Dumping writes a temporary file and symbolizes: blocking work.
    let mut ctl = ctl;
    match tokio::task::spawn_blocking(move || ctl.dump_pprof()).await {
        // `dump_pprof` returns the profile already gzipped.
        Ok(Ok(body)) => profile_response(body),
        Ok(Err(e)) => internal(format!("cannot dump the heap profile: {e:#}")),
        Err(e) => internal(format!("cannot dump the heap profile: {e}")),
    }
}

#[cfg(target_env = "msvc")]
async fn heap_profile() -> Response {
    not_implemented("heap profiling needs jemalloc, which this build does not use")
}

/// Whether `/debug/pprof/heap` can answer: jemalloc started with `prof:true` and sampling is
/// active.
#[cfg(not(target_env = "msvc"))]
pub fn heap_profiling_active() -> bool {
    match jemalloc_pprof::PROF_CTL.as_ref() {
        None => false,
        // Held only by a dump or a toggle in flight; a dump only runs while active.
        Some(ctl) => ctl.try_lock().map_or(true, |c| c.activated()),
    }
}

/// Whether `/debug/pprof/heap` can answer: never without jemalloc.
#[cfg(target_env = "msvc")]
pub fn heap_profiling_active() -> bool {
    false
}

fn profile_response(body: Vec<u8>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"profile\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// The gateway's usual error body, `{"error":{"message","type","code",…}}`.
fn error(status: StatusCode, code: &str, message: String) -> Response {
    let mut e = BifrostError::invalid_request(message);
    e.status = status.as_u16();
    e.code = Some(code.to_owned());
    if status.is_server_error() {
        e.error_type = "server_error".into();
    }
    (status, Json(e.to_json())).into_response()
}

fn not_implemented(message: &str) -> Response {
    error(
        StatusCode::NOT_IMPLEMENTED,
        "profiling_unavailable",
        message.to_owned(),
    )
}

fn internal(message: String) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "profiling_failed",
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds(None), Ok(30));
        assert_eq!(parse_seconds(Some("")), Ok(30));
        assert_eq!(parse_seconds(Some("seconds=5")), Ok(5));
        assert_eq!(parse_seconds(Some("debug=1&seconds=300")), Ok(300));
        for bad in [
            "seconds=0",
            "seconds=301",
            "seconds=abc",
            "seconds=",
            "seconds=-1",
        ] {
            assert!(parse_seconds(Some(bad)).is_err(), "{bad}");
        }
    }
}
