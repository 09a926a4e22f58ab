//! The proxy's access lines, formatted on a fast path.
//!
//! The proxy logs one event per request (target
//! [`dockyard_proxy::ACCESS_LOG_TARGET`]). `tracing-subscriber`'s own
//! formatters cost more than half as much as the proxying itself for such a
//! line. Measured with callgrind (one worker, a 1 KiB file from nginx,
//! metrics on), instructions per proxied request: 32.9k with no access line;
//! with one, 53.6k in JSON (serde through an `io::Write` adaptor that
//! re-checks UTF-8 on every write, the timestamp formatted from scratch) and
//! 47.8k in text; on this path, 38.4k and 38.7k.
//!
//! [`AccessLines`] wraps the configured formatter and writes these events
//! itself, in the same layout, with the timestamp's date and time formatted
//! once a second per thread. Every other event, an access event inside a
//! span, and anything written with ANSI colours go to the wrapped formatter
//! unchanged. The unit tests hold the two to the same output;
//! `scripts/bench-access-log.sh` times both (public for that benchmark):
//! 1,886 → 377 ns per JSON line and 1,175 → 466 ns per text line, measured.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The layout of the lines, that of the wrapped formatter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `tracing-subscriber`'s JSON with flattened fields.
    Json,
    /// `tracing-subscriber`'s full text format.
    Text,
}

/// An event formatter: access events on the fast path, the rest through `inner`.
pub struct AccessLines<F> {
    /// The stock formatter, configured as `dockyard serve` uses it.
    pub inner: F,
    style: Style,
}

impl AccessLines<Format<Json>> {
    /// `dockyard serve`'s JSON lines: flattened fields and the current span.
    pub fn json() -> Self {
        let inner = tracing_subscriber::fmt::format().json().flatten_event(true).with_current_span(true);
        Self { inner, style: Style::Json }
    }
}

impl AccessLines<Format<Full>> {
    /// `dockyard serve`'s text lines: the stock full format.
    pub fn text() -> Self {
        Self { inner: tracing_subscriber::fmt::format(), style: Style::Text }
    }
}

impl<S, N, F> FormatEvent<S, N> for AccessLines<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let metadata = event.metadata();
        if metadata.target() != dockyard_proxy::ACCESS_LOG_TARGET
            || writer.has_ansi_escapes()
            || ctx.lookup_current().is_some()
        {
            return self.inner.format_event(ctx, writer, event);
        }
        // The line is made in a buffer of this thread's (the writer is a
        // `dyn` one: a call per piece), then handed over whole.
        LINE.with(|buffer| {
            let mut spare = String::new();
            let mut borrowed = buffer.try_borrow_mut();
            let line = borrowed.as_deref_mut().unwrap_or(&mut spare);
            line.clear();
            self.format_access(line, event);
            let written = writer.write_str(line);
            // One huge request target does not keep its buffer for good.
            if line.capacity() > 64 * 1024 {
                *line = String::new();
            }
            written
        })
    }
}

impl<F> AccessLines<F> {
    fn format_access(&self, line: &mut String, event: &Event<'_>) {
        let metadata = event.metadata();
        match self.style {
            Style::Json => {
                line.push_str("{\"timestamp\":\"");
                push_timestamp(line);
                line.push_str("\",\"level\":\"");
                line.push_str(metadata.level().as_str());
                line.push('"');
                event.record(&mut JsonFields(line));
                line.push_str(",\"target\":");
                push_json_str(line, metadata.target());
                line.push_str("}\n");
            }
            Style::Text => {
                push_timestamp(line);
                line.push_str(text_level(*metadata.level()));
                line.push_str(metadata.target());
                line.push_str(": ");
                event.record(&mut TextFields { line, first: true });
                line.push('\n');
            }
        }
    }
}

/// The level as the text format pads it, with the spaces around it.
fn text_level(level: Level) -> &'static str {
    match level {
        Level::TRACE => " TRACE ",
        Level::DEBUG => " DEBUG ",
        Level::INFO => "  INFO ",
        Level::WARN => "  WARN ",
        Level::ERROR => " ERROR ",
    }
}

thread_local! {
    /// The line being made on this thread.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    /// The second last formatted on this thread, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Now, as `tracing-subscriber`'s `SystemTime` writes it: RFC 3339 in UTC
/// with microseconds, `2026-11-23T19:31:41.265942Z`.
fn push_timestamp(line: &mut String) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let seconds = now.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != seconds {
            let at = i64::try_from(seconds).ok().and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0));
            text.clear();
            if let Some(at) = at {
                let _ = write!(text, "{}", at.format("%Y-%m-%dT%H:%M:%S"));
            }
            *cached = seconds;
        }
        line.push_str(text);
    });
    line.push('.');
    // Six digits, zero-padded.
    let mut digits = itoa::Buffer::new();
    line.push_str(&digits.format(now.subsec_micros() + 1_000_000)[1..]);
    line.push('Z');
}

/// Appends `value` as a JSON string, quotes included.
fn push_json_str(line: &mut String, value: &str) {
    line.push('"');
    push_json_escaped(line, value);
    line.push('"');
}

/// Appends `text` escaped for the inside of a JSON string.
fn push_json_escaped(line: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let needs_escape = |byte: u8| byte < 0x20 || byte == b'"' || byte == b'\\';
    // Nearly every value needs none: one scan, one copy.
    if !bytes.iter().any(|&byte| needs_escape(byte)) {
        line.push_str(text);
        return;
    }
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if !needs_escape(byte) {
            continue;
        }
        // Runs between escapes end and start at ASCII bytes: char boundaries.
        line.push_str(&text[start..index]);
        match byte {
            b'"' => line.push_str("\\\""),
            b'\\' => line.push_str("\\\\"),
            b'\n' => line.push_str("\\n"),
            b'\r' => line.push_str("\\r"),
            b'\t' => line.push_str("\\t"),
            0x08 => line.push_str("\\b"),
            0x0c => line.push_str("\\f"),
            _ => {
                let _ = write!(line, "\\u{byte:04x}");
            }
        }
        start = index + 1;
    }
    line.push_str(&text[start..]);
}

/// Escapes what is formatted through it for the inside of a JSON string.
struct JsonEscape<'a>(&'a mut String);

impl fmt::Write for JsonEscape<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        push_json_escaped(self.0, text);
        Ok(())
    }
}

/// Fields as `tracing-serde` writes them, each after a comma.
struct JsonFields<'a>(&'a mut String);

impl JsonFields<'_> {
    fn key(&mut self, field: &Field) -> &mut String {
        self.0.push(',');
        push_json_str(self.0, field.name());
        self.0.push(':');
        self.0
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        push_json_str(self.key(field), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field).push_str(itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field).push_str(itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field).push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; serde_json writes null for them.
        let line = self.key(field);
        if value.is_finite() {
            line.push_str(ryu::Buffer::new().format_finite(value));
        } else {
            line.push_str("null");
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let line = self.key(field);
        line.push('"');
        let _ = write!(JsonEscape(line), "{value:?}");
        line.push('"');
    }
}

/// Fields as `tracing-subscriber`'s default visitor writes them: `name=value`
/// with spaces between, strings quoted, a message first and without its name.
struct TextFields<'a> {
    line: &'a mut String,
    first: bool,
}

impl Visit for TextFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !std::mem::take(&mut self.first) {
            self.line.push(' ');
        }
        let name = field.name();
        if name != "message" {
            self.line.push_str(name.strip_prefix("r#").unwrap_or(name));
            self.line.push('=');
        }
        let _ = write!(self.line, "{value:?}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};

    use serde_json::Value;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
        }
    }

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    /// Access events with awkward values, and one other event.
    fn emit() {
        let method = "GET";
        tracing::info!(
            target: dockyard_proxy::ACCESS_LOG_TARGET,
            host = "app-web.localhost",
            route = "01j0route",
            method = %method,
            path = "/a \"quoted\" \\ path\u{1}\n\u{e9}\u{1f600}",
            status = 200u16,
            bytes = 1024u64,
            duration_ms = 0.081_492_f64,
            backend = "-",
        );
        tracing::warn!(target: dockyard_proxy::ACCESS_LOG_TARGET, status = 502u16, delta = -3i64, ok = true, whole = 5.0_f64, nan = f64::NAN, big = 1e21_f64, "with a message");
        tracing::info!(answer = 42, "not an access line");
        let span = tracing::info_span!("request", request_id = "r1");
        let _inside = span.enter();
        tracing::info!(target: dockyard_proxy::ACCESS_LOG_TARGET, status = 404u16, "inside a span");
    }

    fn capture(fast: bool, json: bool) -> Vec<String> {
        let captured = Captured::default();
        let builder = tracing_subscriber::fmt().with_ansi(false).with_writer(captured.clone());
        match (json, fast) {
            (true, true) => {
                tracing::subscriber::with_default(builder.json().event_format(AccessLines::json()).finish(), emit)
            }
            (true, false) => {
                tracing::subscriber::with_default(builder.json().event_format(AccessLines::json().inner).finish(), emit)
            }
            (false, true) => {
                tracing::subscriber::with_default(builder.event_format(AccessLines::text()).finish(), emit)
            }
            (false, false) => {
                tracing::subscriber::with_default(builder.event_format(AccessLines::text().inner).finish(), emit)
            }
        }
        captured.lines()
    }

    fn without_timestamp(mut value: Value) -> Value {
        let timestamp = value.as_object_mut().and_then(|object| object.remove("timestamp"));
        let timestamp = timestamp.and_then(|timestamp| timestamp.as_str().map(str::to_owned)).unwrap_or_default();
        assert!(chrono::DateTime::parse_from_rfc3339(&timestamp).is_ok(), "an RFC 3339 timestamp: {timestamp:?}");
        assert_eq!(timestamp.len(), "2026-11-23T19:31:41.265942Z".len(), "{timestamp}");
        value
    }

    #[test]
    fn json_lines_carry_the_same_object_as_the_wrapped_formatter() {
        let (fast, slow) = (capture(true, true), capture(false, true));
        assert_eq!(fast.len(), 4, "{fast:?}");
        assert_eq!(fast.len(), slow.len());
        for (fast, slow) in fast.iter().zip(&slow) {
            let fast_value: Value = serde_json::from_str(fast).unwrap_or_else(|error| panic!("{error}: {fast}"));
            let slow_value: Value = serde_json::from_str(slow).unwrap_or_else(|error| panic!("{error}: {slow}"));
            assert_eq!(without_timestamp(fast_value), without_timestamp(slow_value), "\nfast: {fast}\nslow: {slow}");
        }
        // The keys in the same order, too: timestamp, level, the fields, target.
        let keys = |line: &str| -> Vec<String> {
            let value: Value = serde_json::from_str(line).unwrap_or_default();
            value.as_object().map(|object| object.keys().cloned().collect()).unwrap_or_default()
        };
        assert_eq!(keys(&fast[0]), keys(&slow[0]));
        assert!(fast[0].contains(r#""path":"/a \"quoted\" \\ path\u0001\n"#), "{}", fast[0]);
    }

    #[test]
    fn text_lines_are_the_wrapped_formatters_but_for_the_time() {
        let (fast, slow) = (capture(true, false), capture(false, false));
        assert_eq!(fast.len(), 4, "{fast:?}");
        assert_eq!(fast.len(), slow.len());
        for (fast, slow) in fast.iter().zip(&slow) {
            let (fast_time, fast_rest) = fast.split_once(' ').unwrap_or_default();
            let (slow_time, slow_rest) = slow.split_once(' ').unwrap_or_default();
            assert_eq!(fast_rest, slow_rest);
            assert_eq!(fast_time.len(), slow_time.len(), "{fast_time} / {slow_time}");
            assert!(chrono::DateTime::parse_from_rfc3339(fast_time).is_ok(), "{fast_time}");
        }
        assert!(fast[0].contains(r#" INFO dockyard::proxy::access: host="app-web.localhost" route="#), "{}", fast[0]);
    }

    #[test]
    fn the_timestamp_is_the_clock_in_utc() {
        let mut text = String::new();
        let before = chrono::Utc::now();
        push_timestamp(&mut text);
        let after = chrono::Utc::now();
        let at = chrono::DateTime::parse_from_rfc3339(&text).expect("RFC 3339").with_timezone(&chrono::Utc);
        let floor = before - chrono::Duration::microseconds(1);
        assert!(floor <= at && at <= after, "{before} <= {at} <= {after}");
        // Twice in one second: the cached part is reused, the microseconds are not.
        let mut again = String::new();
        push_timestamp(&mut again);
        assert!(again.ends_with('Z') && again.len() == text.len(), "{again}");
    }
}
