//! The OpenAI `/v1/chat/completions` wire format: the request bodies we send,
//! the streamed answer (Server-Sent Events of JSON chunks, ending with
//! `data: [DONE]`) and the non-streamed one.
//!
//! The stream parser follows the SSE rules exactly: events are separated by a
//! blank line, lines end in `\n`, `\r\n` or `\r`, a line starting with `:` is
//! a comment (keep-alive), `data:` lines of one event are joined with `\n`,
//! other fields are ignored. Bytes arrive in arbitrary pieces: a piece may end
//! inside a line, inside a multi-byte character or between `\r` and `\n`.

use serde_json::{Value, json};

/// One chat message as sent upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireMessage {
    pub role: &'static str,
    pub content: String,
}

fn messages_json(messages: &[WireMessage]) -> Value {
    Value::Array(messages.iter().map(|message| json!({ "role": message.role, "content": message.content })).collect())
}

/// The body of a streamed chat request.
pub(crate) fn stream_request(model: &str, messages: &[WireMessage]) -> Value {
    json!({
        "model": model,
        "messages": messages_json(messages),
        "stream": true,
        "stream_options": { "include_usage": true },
    })
}

/// The body of a non-streamed request (code completion).
pub(crate) fn complete_request(model: &str, messages: &[WireMessage], max_tokens: u32) -> Value {
    json!({
        "model": model,
        "messages": messages_json(messages),
        "stream": false,
        "max_tokens": max_tokens,
        "temperature": 0,
    })
}

/// Token counts as the endpoint reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    fn from_json(value: &Value) -> Option<Usage> {
        let object = value.as_object()?;
        let count = |name: &str| object.get(name).and_then(Value::as_u64);
        let prompt_tokens = count("prompt_tokens");
        let completion_tokens = count("completion_tokens");
        if prompt_tokens.is_none() && completion_tokens.is_none() {
            return None;
        }
        Some(Usage { prompt_tokens: prompt_tokens.unwrap_or(0), completion_tokens: completion_tokens.unwrap_or(0) })
    }

    pub fn total(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// What one event of the upstream stream meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamItem {
    /// A piece of the answer (`choices[0].delta.content`).
    Delta(String),
    /// The usage chunk (`stream_options.include_usage`).
    Usage(Usage),
    /// `data: [DONE]`.
    Done,
    /// The endpoint reported an error inside the stream (`{"error": …}`).
    Error(String),
    /// A data payload that is not a chunk of this format.
    Malformed,
}

/// Interprets one event's data. A chunk can carry both a delta and usage
/// (some servers send usage on the last content chunk), so this answers a list.
pub(crate) fn interpret(data: &str) -> Vec<StreamItem> {
    if data.trim() == "[DONE]" {
        return vec![StreamItem::Done];
    }
    let Ok(chunk) = serde_json::from_str::<Value>(data) else { return vec![StreamItem::Malformed] };
    if !chunk.is_object() {
        return vec![StreamItem::Malformed];
    }
    if let Some(error) = chunk.get("error").filter(|error| !error.is_null()) {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| error.as_str())
            .unwrap_or("the endpoint reported an error")
            .to_owned();
        return vec![StreamItem::Error(message)];
    }
    let mut items = Vec::new();
    if let Some(content) = chunk
        .get("choices")
        .and_then(|choices| choices.get(0))
        .and_then(|choice| choice.get("delta"))
        .and_then(|delta| delta.get("content"))
        .and_then(Value::as_str)
        .filter(|content| !content.is_empty())
    {
        items.push(StreamItem::Delta(content.to_owned()));
    }
    if let Some(usage) = chunk.get("usage").and_then(Usage::from_json) {
        items.push(StreamItem::Usage(usage));
    }
    items
}

/// The answer of a non-streamed request: the content and the usage, if reported.
pub(crate) fn parse_completion(body: &[u8]) -> Option<(String, Option<Usage>)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let content = value.get("choices")?.get(0)?.get("message")?.get("content")?;
    let content = match content {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        _ => return None,
    };
    Some((content, value.get("usage").and_then(Usage::from_json)))
}

/// The largest line the parser keeps while waiting for its end; a stream
/// with a longer line is broken (or hostile).
pub(crate) const MAX_LINE_BYTES: usize = 1024 * 1024;

/// An incremental Server-Sent Events parser that answers each event's data.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous piece ended with `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
    /// The `data` lines of the current event.
    data: Vec<String>,
    has_data: bool,
}

/// The stream has a line longer than [`MAX_LINE_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineTooLong;

impl SseParser {
    /// Feeds a piece of the stream; answers the data of every event it completed.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, LineTooLong> {
        let mut events = Vec::new();
        let mut rest = bytes;
        if self.after_cr {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(end) = rest.iter().position(|byte| *byte == b'\n' || *byte == b'\r') {
            self.line.extend_from_slice(&rest[..end]);
            if rest[end] == b'\r' {
                match rest.get(end + 1) {
                    Some(b'\n') => rest = &rest[end + 2..],
                    Some(_) => rest = &rest[end + 1..],
                    None => {
                        self.after_cr = true;
                        rest = &[];
                    }
                }
            } else {
                rest = &rest[end + 1..];
            }
            let line = std::mem::take(&mut self.line);
            if let Some(data) = self.line_done(&line) {
                events.push(data);
            }
        }
        self.line.extend_from_slice(rest);
        if self.line.len() > MAX_LINE_BYTES {
            return Err(LineTooLong);
        }
        Ok(events)
    }

    /// The end of the stream: an event the server did not end with a blank line still counts.
    pub(crate) fn finish(&mut self) -> Option<String> {
        let line = std::mem::take(&mut self.line);
        let last = if line.is_empty() { None } else { self.line_done(&line) };
        last.or_else(|| self.dispatch())
    }

    fn line_done(&mut self, line: &[u8]) -> Option<String> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|byte| *byte == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            self.data.push(String::from_utf8_lossy(value).into_owned());
            self.has_data = true;
        }
        None
    }

    fn dispatch(&mut self) -> Option<String> {
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(std::mem::take(&mut self.data).join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = ": keep-alive\n\ndata: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
data: {\"choices\":[{\"delta\":{\"content\":\"Héllo\"}}]}\r\n\r\n\
data: {\"choices\":[{\"delta\":{\"content\":\" wörld ✓\"}}]}\r\r\
: ping\n\n\
data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}\n\n\
data: [DONE]\n\n";

    fn items_of(events: Vec<String>) -> Vec<StreamItem> {
        events.iter().flat_map(|data| interpret(data)).collect()
    }

    fn expected() -> Vec<StreamItem> {
        vec![
            StreamItem::Delta("Héllo".into()),
            StreamItem::Delta(" wörld ✓".into()),
            StreamItem::Usage(Usage { prompt_tokens: 12, completion_tokens: 3 }),
            StreamItem::Done,
        ]
    }

    #[test]
    fn a_whole_stream_parses() {
        let mut parser = SseParser::default();
        let events = parser.push(STREAM.as_bytes()).expect("short lines");
        assert_eq!(items_of(events), expected());
        assert_eq!(parser.finish(), None);
    }

    #[test]
    fn every_split_point_and_one_byte_pieces_parse_the_same() {
        let bytes = STREAM.as_bytes();
        for split in 0..=bytes.len() {
            let mut parser = SseParser::default();
            let mut events = parser.push(&bytes[..split]).expect("short lines");
            events.extend(parser.push(&bytes[split..]).expect("short lines"));
            events.extend(parser.finish());
            assert_eq!(items_of(events), expected(), "split at {split}");
        }
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for byte in bytes {
            events.extend(parser.push(std::slice::from_ref(byte)).expect("short lines"));
        }
        assert_eq!(items_of(events), expected());
    }

    #[test]
    fn multi_line_data_is_joined_and_an_unterminated_last_event_counts() {
        let mut parser = SseParser::default();
        let events = parser.push(b"data: a\ndata:b\nevent: x\nid: 1\n\ndata: [DONE]").expect("short lines");
        assert_eq!(events, vec!["a\nb".to_owned()]);
        assert_eq!(parser.finish().as_deref(), Some("[DONE]"));
    }

    #[test]
    fn errors_and_garbage_are_recognised() {
        assert_eq!(
            interpret(r#"{"error":{"message":"overloaded","type":"server_error"}}"#),
            vec![StreamItem::Error("overloaded".into())]
        );
        assert_eq!(interpret("not json"), vec![StreamItem::Malformed]);
        assert_eq!(interpret("[1]"), vec![StreamItem::Malformed]);
        assert_eq!(interpret(r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#), vec![]);
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut parser = SseParser::default();
        let piece = vec![b'x'; MAX_LINE_BYTES / 2 + 1];
        assert!(parser.push(&piece).is_ok());
        assert_eq!(parser.push(&piece), Err(LineTooLong));
    }

    #[test]
    fn non_streamed_answers_parse() {
        let body = br#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"fn main() {}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}"#;
        assert_eq!(
            parse_completion(body),
            Some(("fn main() {}".to_owned(), Some(Usage { prompt_tokens: 5, completion_tokens: 4 })))
        );
        assert_eq!(parse_completion(br#"{"choices":[]}"#), None);
    }
}
