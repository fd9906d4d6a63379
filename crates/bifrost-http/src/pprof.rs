//! `/debug/pprof/*`: CPU and heap profiles in the gzipped `profile.proto` format that
//! `go tool pprof http://HOST/debug/pprof/{profile,heap}` reads. Function names are embedded, so
//! the binary is not needed to read them.
//!
//! The heap profile needs jemalloc started with `prof:true`; `.cargo/config.toml` bakes
//! `prof:true,prof_active:true,lg_prof_sample:21` (one sample per 2 MiB) into the build (no `malloc_conf` symbol: this
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
     /debug/pprof/heap               in-use heap (jemalloc, sampled every 2 MiB on average)\n"
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
        let report = guard
            .report()
            .frames_post_processor(drop_sampler_frames)
            .build();
        drop(guard);
        drop(slot);
        let mut profile = report?.pprof()?;
        // A sample caught entirely inside the sampler has no frames left: nothing to show.
        profile.sample.retain(|s| !s.location_id.is_empty());
        name_main_binary(&mut profile);
        anyhow::Ok(gzip(&pprof::protos::Message::write_to_bytes(&profile)?)?)
    })
    .await;
    match built {
        Ok(Ok(body)) => profile_response(body),
        Ok(Err(e)) => internal(format!("cannot build the CPU profile: {e:#}")),
        Err(e) => internal(format!("cannot build the CPU profile: {e}")),
    }
}

/// Each sample starts inside the `SIGPROF` handler's own unwinder (pprof only drops the handler
/// frame itself), which would take all the flat time; drop those leaf frames.
fn drop_sampler_frames(frames: &mut pprof::Frames) {
    let is_sampler = |s: &pprof::Symbol| {
        let name = s.name();
        [
            "backtrace::backtrace::",
            "<pprof::backtrace::",
            "pprof::profiler::",
        ]
        .iter()
        .any(|p| name.starts_with(p))
    };
    let own = frames
        .frames
        .iter()
        .take_while(|f| !f.is_empty() && f.iter().all(is_sampler))
        .count();
    frames.frames.drain(..own);
}

/// pprof-rs writes no mapping, so `go tool pprof` warns "Main binary filename not available";
/// name this executable, marked symbolized, as the one mapping.
fn name_main_binary(profile: &mut pprof::protos::Profile) {
    let exe = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut mapping = pprof::protos::Mapping::new();
    mapping.id = 1;
    mapping.memory_limit = u64::MAX;
    mapping.filename = profile.string_table.len() as i64;
    mapping.has_functions = true;
    mapping.has_filenames = true;
    mapping.has_line_numbers = true;
    profile.string_table.push(exe);
    profile.mapping.push(mapping);
    for l in &mut profile.location {
        l.mapping_id = 1;
    }
}

/// `seconds` from the query string: absent means 30; otherwise an integer in 1..=300.
fn parse_seconds(query: Option<&str>) -> Result<u64, String> {
    let value = query
        .unwrap_or("")
        .split('&')
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .rfind(|(k, _)| *k == "seconds")
        .map(|(_, v)| v);
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
    let mut ctl = ctl.clone().lock_owned().await;
    if !ctl.activated() {
        return not_implemented(
            "heap profiling is off: jemalloc sampling is inactive (prof_active:false)",
        );
    }
    // Dumping writes a temporary file and symbolizes: blocking work.
    match tokio::task::spawn_blocking(move || finish_heap_profile(&ctl.dump_pprof()?)).await {
        Ok(Ok(body)) => profile_response(body),
        Ok(Err(e)) => internal(format!("cannot dump the heap profile: {e:#}")),
        Err(e) => internal(format!("cannot dump the heap profile: {e}")),
    }
}

/// Allocator frames (jemalloc's sampler and entry points, also the static ones that tail calls
/// leave as the outermost, and the Rust allocation shims) at the leaf of every heap sample;
/// `go tool pprof` drops the outermost frame fully matching this and everything beneath it.
#[cfg(not(target_env = "msvc"))]
const HEAP_DROP_FRAMES: &str =
    "_rjem_.*|prof_.*|imalloc.*|ialloc.*|irallocx.*|do_rallocx|\
     (__rustc::)?__rust_(alloc|alloc_zeroed|realloc)|__rdl_.*|<tikv_jemallocator::Jemalloc as core::alloc::global::GlobalAlloc>::.*|\
     alloc::alloc::.*|<alloc::alloc::Global as core::alloc::Allocator>::.*";

/// `jemalloc_pprof` returns the profile gzipped and symbolized, but marks only some mappings
/// so: `go tool pprof` then re-symbolizes from the binary on disk when it finds it (as with
/// `localhost`), and its DWARF reader loses most Rust names. Marks them all; sets `drop_frames`.
#[cfg(not(target_env = "msvc"))]
fn finish_heap_profile(gz: &[u8]) -> anyhow::Result<Vec<u8>> {
    use pprof::protos::Message as _;
    use std::io::Read as _;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz).read_to_end(&mut raw)?;
    let mut profile = pprof::protos::Profile::parse_from_bytes(&raw)?;
    // One mapping per ELF segment, which `go tool pprof` merges by file: mark them by file.
    let symbolized: std::collections::HashSet<i64> = profile
        .location
        .iter()
        .filter(|l| !l.line.is_empty())
        .filter_map(|l| profile.mapping.iter().find(|m| m.id == l.mapping_id))
        .map(|m| m.filename)
        .collect();
    for m in &mut profile.mapping {
        if symbolized.contains(&m.filename) {
            m.has_functions = true;
            m.has_filenames = true;
            m.has_line_numbers = true;
        }
    }
    profile.drop_frames = i64::try_from(profile.string_table.len())?;
    profile.string_table.push(HEAP_DROP_FRAMES.to_owned());
    Ok(gzip(&profile.write_to_bytes()?)?)
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
