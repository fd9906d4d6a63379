//! JSON log lines, written directly: the same lines as `tracing-subscriber`'s `json()` format,
//! without its per-event serde machinery. At the default `info` level every request logs one
//! line, and the generic formatter spent ~30k instructions on it (callgrind), about a fifth of
//! a request; this one spends a fraction of that. Events inside a span, and `log`-crate records,
//! go to the generic formatter, which knows how to write spans and normalise records.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter for `-log-style json`.
pub struct FastJson {
    generic: Format<Json>,
}

impl Default for FastJson {
    fn default() -> Self {
        Self {
            generic: tracing_subscriber::fmt::format().json(),
        }
    }
}

impl<S, N> FormatEvent<S, N> for FastJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if ctx.lookup_current().is_some() || meta.fields().field("log.target").is_some() {
            return self.generic.format_event(ctx, writer, event);
        }
        // Built in a plain `String` (no dynamic dispatch per piece), written once.
        with_buffer(&LINE, |w| {
            w.push_str("{\"timestamp\":\"");
            write_timestamp(w, std::time::SystemTime::now())?;
            w.push_str("\",\"level\":\"");
            w.push_str(meta.level().as_str());
            w.push_str("\",\"fields\":{");
            let mut fields = Fields {
                w,
                first: true,
                result: Ok(()),
            };
            event.record(&mut fields);
            fields.result?;
            w.push_str("},\"target\":");
            write_string(w, meta.target())?;
            w.push_str("}\n");
            writer.write_str(w)
        })
    }
}

/// `"name":value` pairs, as `tracing-serde` writes them.
struct Fields<'w> {
    w: &'w mut String,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_> {
    fn key(&mut self, field: &Field) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.w.write_char(',')?;
        }
        write_string(self.w, field.name())?;
        self.w.write_char(':')
    }

    fn put(&mut self, field: &Field, value: impl FnOnce(&mut String) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| value(self.w));
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, |w| write_string(w, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, |w| {
            w.push_str(itoa::Buffer::new().format(value));
            Ok(())
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, |w| {
            w.push_str(itoa::Buffer::new().format(value));
            Ok(())
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, |w| {
            w.push_str(if value { "true" } else { "false" });
            Ok(())
        });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // serde_json writes non-finite numbers as null; `{:?}` is the shortest round trip
        // with a `.0` on whole numbers, as serde_json's.
        self.put(field, |w| {
            if value.is_finite() {
                write!(w, "{value:?}")
            } else {
                w.write_str("null")
            }
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, |w| {
            with_buffer(&DEBUG, |b| {
                write!(b, "{value:?}")?;
                write_string(w, b)
            })
        });
    }
}

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    static DEBUG: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` on the thread's cleared buffer, or on a new one if the buffer is in use (a `Debug`
/// impl that logs while its value is being formatted).
fn with_buffer<R>(
    key: &'static std::thread::LocalKey<RefCell<String>>,
    f: impl FnOnce(&mut String) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut b) => {
            b.clear();
            f(&mut b)
        }
        Err(_) => f(&mut String::new()),
    })
}

/// A JSON string with serde_json's escapes.
fn write_string(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        w.write_str(s)?;
        return w.write_char('"');
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        w.write_str(&s[start..i])?;
        if escape.is_empty() {
            write!(w, "\\u{b:04x}")?;
        } else {
            w.write_str(escape)?;
        }
        start = i + 1;
    }
    w.write_str(&s[start..])?;
    w.write_char('"')
}

/// `2026-12-07T00:52:19.688065Z`, as `tracing-subscriber` writes it; the date and time up to the
/// second are formatted once a second per thread.
fn write_timestamp(w: &mut impl fmt::Write, now: std::time::SystemTime) -> fmt::Result {
    thread_local!(static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) });
    let since = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            let t = i64::try_from(secs)
                .ok()
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            c.1.clear();
            write!(
                c.1,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )?;
            c.0 = secs;
        }
        w.write_str(&c.1)?;
        write!(w, ".{:06}Z", since.subsec_micros())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt as _;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lines one formatter writes for the same events, timestamps taken out.
    fn lines(fast: bool) -> Vec<serde_json::Value> {
        let buf = Buf::default();
        let out = buf.clone();
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .with_writer(move || out.clone());
        let subscriber = tracing_subscriber::registry();
        let emit = || {
            tracing::info!(
                request_id = "a\"b\\c\u{1}\n",
                provider = %"openai",
                status = 200,
                delta = -3i64,
                stream = false,
                latency_ms = 1.349_144_000_000_000_1,
                whole = 2.0,
                nan = f64::NAN,
                tokens = Some(12u64),
                none = None::<u64>,
                "request"
            );
            tracing::warn!("plain message with \"quotes\" and ünïcode");
            let span = tracing::info_span!("outer", id = 7);
            let _in = span.enter();
            tracing::info!(inside = true, "in a span");
        };
        if fast {
            let s = subscriber.with(layer.event_format(FastJson::default()));
            tracing::subscriber::with_default(s, emit);
        } else {
            tracing::subscriber::with_default(subscriber.with(layer), emit);
        }
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                let ts = v["timestamp"].take();
                let ts = ts.as_str().unwrap();
                // 2026-12-07T00:52:19.688065Z
                assert!(
                    ts.len() == 27 && ts.ends_with('Z') && &ts[10..11] == "T",
                    "{ts}"
                );
                v
            })
            .collect()
    }

    #[test]
    fn lines_equal_the_generic_json_format() {
        let fast = lines(true);
        assert_eq!(fast.len(), 3);
        assert_eq!(fast, lines(false));
        // Key order is part of the format, not only the values.
        let generic = lines(false);
        for (a, b) in fast.iter().zip(&generic) {
            assert_eq!(a.to_string(), b.to_string());
        }
    }

    #[test]
    fn the_timestamp_is_rfc3339_utc_with_microseconds() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_796_604_739, 688_065_123);
        let mut s = String::new();
        write_timestamp(&mut s, t).unwrap();
        assert_eq!(s, "2026-12-07T00:52:19.688065Z");
        s.clear();
        write_timestamp(&mut s, t + std::time::Duration::from_secs(1)).unwrap();
        assert_eq!(s, "2026-12-07T00:52:20.688065Z");
    }
}
