//! The agents' wire formats, as pure functions: Claude Code's stream-json
//! events turned into transcript events, and the Agent Client Protocol's
//! JSON-RPC messages (what we send, and how to read what the agent sends).
//!
//! Transcript event kinds (the job events a session's clients read):
//! `output` `{text}` (raw terminal or unparsed output), `stderr` `{text}`,
//! `message` `{role, text}`, `thought` `{text}`, `tool_call` `{id, name, input?, status?}`,
//! `tool_result` `{id, text, is_error}`, `usage` `{input_tokens?, output_tokens?, cost_usd?}`,
//! `permission_request` `{request_id, title, options:[{id, name, kind}]}`,
//! `permission_answer` `{request_id, option_id}`, `input` `{text}`,
//! `status` `{status, exit_code?, error?}`.

use serde_json::{Value, json};

/// Longest text kept in one tool result event.
const MAX_TOOL_TEXT: usize = 16 * 1024;

fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} more bytes]", &text[..end], text.len() - end)
}

/// Usage and outcome a `result` line reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultInfo {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    pub text: Option<String>,
    pub is_error: bool,
}

/// What one stdout line of Claude Code's stream-json means.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaudeLine {
    /// Transcript events to record.
    Events(Vec<(&'static str, Value)>),
    /// The turn's end, with usage.
    Result(ResultInfo, Vec<(&'static str, Value)>),
}

/// Reads one line of `--output-format stream-json`. A line that is not JSON
/// is kept as `output`.
pub fn claude_line(line: &str) -> ClaudeLine {
    let Ok(value) = serde_json::from_str::<Value>(line) else {
        return ClaudeLine::Events(vec![("output", json!({ "text": format!("{line}\n") }))]);
    };
    let mut events = Vec::new();
    match value["type"].as_str() {
        Some("system") => {
            events.push((
                "message",
                json!({ "role": "system", "text": format!("session started ({})",
                    value["model"].as_str().unwrap_or("agent")) }),
            ));
        }
        Some(role @ ("assistant" | "user")) => {
            let role = if role == "assistant" { "assistant" } else { "user" };
            let content = &value["message"]["content"];
            if let Some(text) = content.as_str() {
                events.push(("message", json!({ "role": role, "text": text })));
            }
            for block in content.as_array().into_iter().flatten() {
                match block["type"].as_str() {
                    Some("text") => {
                        events.push(("message", json!({ "role": role, "text": block["text"].as_str().unwrap_or("") })))
                    }
                    Some("thinking") => {
                        events.push(("thought", json!({ "text": block["thinking"].as_str().unwrap_or("") })))
                    }
                    Some("tool_use") => events.push((
                        "tool_call",
                        json!({ "id": block["id"], "name": block["name"], "input": block["input"] }),
                    )),
                    Some("tool_result") => {
                        let text = match &block["content"] {
                            Value::String(text) => text.clone(),
                            Value::Array(parts) => {
                                parts.iter().filter_map(|part| part["text"].as_str()).collect::<Vec<_>>().join("\n")
                            }
                            _ => String::new(),
                        };
                        events.push((
                            "tool_result",
                            json!({ "id": block["tool_use_id"], "text": clip(&text, MAX_TOOL_TEXT),
                                "is_error": block["is_error"].as_bool().unwrap_or(false) }),
                        ));
                    }
                    _ => {}
                }
            }
        }
        Some("result") => {
            let usage = &value["usage"];
            let info = ResultInfo {
                input_tokens: usage["input_tokens"].as_u64().map(|tokens| {
                    tokens
                        + usage["cache_read_input_tokens"].as_u64().unwrap_or(0)
                        + usage["cache_creation_input_tokens"].as_u64().unwrap_or(0)
                }),
                output_tokens: usage["output_tokens"].as_u64(),
                cost_usd: value["total_cost_usd"].as_f64().or_else(|| value["cost_usd"].as_f64()),
                text: value["result"].as_str().map(str::to_owned),
                is_error: value["is_error"].as_bool().unwrap_or(false) || value["subtype"].as_str() != Some("success"),
            };
            events.push((
                "usage",
                json!({ "input_tokens": info.input_tokens, "output_tokens": info.output_tokens, "cost_usd": info.cost_usd }),
            ));
            return ClaudeLine::Result(info, events);
        }
        _ => events.push(("output", json!({ "text": format!("{line}\n") }))),
    }
    ClaudeLine::Events(events)
}

/// A follow-up for Claude Code on stdin (`--input-format stream-json`).
pub fn claude_user_message(text: &str) -> String {
    let mut line =
        json!({ "type": "user", "message": { "role": "user", "content": [{ "type": "text", "text": text }] } })
            .to_string();
    line.push('\n');
    line
}

/// A JSON-RPC 2.0 request line.
pub fn rpc_request(id: u64, method: &str, params: Value) -> String {
    let mut line = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string();
    line.push('\n');
    line
}

/// A JSON-RPC 2.0 notification line.
pub fn rpc_notification(method: &str, params: Value) -> String {
    let mut line = json!({ "jsonrpc": "2.0", "method": method, "params": params }).to_string();
    line.push('\n');
    line
}

/// A JSON-RPC 2.0 response line (`id` as the agent sent it).
pub fn rpc_result(id: &Value, result: Value) -> String {
    let mut line = json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string();
    line.push('\n');
    line
}

/// A JSON-RPC 2.0 error response line.
pub fn rpc_error(id: &Value, code: i64, message: &str) -> String {
    let mut line = json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }).to_string();
    line.push('\n');
    line
}

/// One message from an ACP agent.
#[derive(Debug, Clone, PartialEq)]
pub enum AcpIncoming {
    /// The answer to one of our requests.
    Response { id: u64, result: Result<Value, String> },
    /// A `session/update` notification, as transcript events.
    Update(Vec<(&'static str, Value)>),
    /// A request from the agent to us.
    Request { id: Value, method: String, params: Value },
    /// Anything else (kept as output).
    Other(String),
}

/// Reads one line from an ACP agent.
pub fn acp_line(line: &str) -> AcpIncoming {
    let Ok(value) = serde_json::from_str::<Value>(line) else {
        return AcpIncoming::Other(line.to_owned());
    };
    let method = value["method"].as_str();
    match (method, value.get("id")) {
        (Some(method), Some(id)) => {
            AcpIncoming::Request { id: id.clone(), method: method.to_owned(), params: value["params"].clone() }
        }
        (Some("session/update"), None) => AcpIncoming::Update(acp_update(&value["params"]["update"])),
        (Some(_), None) => AcpIncoming::Other(line.to_owned()),
        (None, Some(id)) => {
            let Some(id) = id.as_u64() else { return AcpIncoming::Other(line.to_owned()) };
            let result = match value.get("error") {
                Some(error) => Err(error["message"].as_str().unwrap_or("the agent answered with an error").to_owned()),
                None => Ok(value["result"].clone()),
            };
            AcpIncoming::Response { id, result }
        }
        (None, None) => AcpIncoming::Other(line.to_owned()),
    }
}

fn content_text(content: &Value) -> String {
    match content {
        Value::Array(parts) => parts.iter().map(content_text).collect::<Vec<_>>().join(""),
        Value::Object(_) if content["type"] == "content" => content_text(&content["content"]),
        Value::Object(_) => content["text"].as_str().unwrap_or("").to_owned(),
        Value::String(text) => text.clone(),
        _ => String::new(),
    }
}

fn acp_update(update: &Value) -> Vec<(&'static str, Value)> {
    match update["sessionUpdate"].as_str() {
        Some("agent_message_chunk") => {
            vec![("message", json!({ "role": "assistant", "text": content_text(&update["content"]), "chunk": true }))]
        }
        Some("user_message_chunk") => {
            vec![("message", json!({ "role": "user", "text": content_text(&update["content"]), "chunk": true }))]
        }
        Some("agent_thought_chunk") => vec![("thought", json!({ "text": content_text(&update["content"]) }))],
        Some("tool_call") => vec![(
            "tool_call",
            json!({ "id": update["toolCallId"], "name": update["title"], "kind": update["kind"],
                "status": update["status"], "input": update["rawInput"] }),
        )],
        Some("tool_call_update") => {
            let text = content_text(&update["content"]);
            vec![(
                "tool_result",
                json!({ "id": update["toolCallId"], "status": update["status"], "text": clip(&text, MAX_TOOL_TEXT),
                    "is_error": update["status"] == "failed" }),
            )]
        }
        Some("plan") => vec![("plan", json!({ "entries": update["entries"] }))],
        _ => Vec::new(),
    }
}

/// The transcript event for an ACP permission request.
pub fn permission_event(request_id: &str, params: &Value) -> Value {
    let options: Vec<Value> = params["options"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|option| json!({ "id": option["optionId"], "name": option["name"], "kind": option["kind"] }))
        .collect();
    json!({
        "request_id": request_id,
        "title": params["toolCall"]["title"].as_str().unwrap_or("The agent asks for permission"),
        "tool_call": params["toolCall"],
        "options": options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_stream_json_lines_become_transcript_events() {
        let ClaudeLine::Events(events) = claude_line(
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"Editing"},{"type":"tool_use","id":"t1","name":"Write","input":{"file_path":"a.txt"}}]}}"#,
        ) else {
            panic!("events")
        };
        assert_eq!(events[0], ("message", json!({ "role": "assistant", "text": "Editing" })));
        assert_eq!(events[1].0, "tool_call");
        assert_eq!(events[1].1["name"], "Write");
        let ClaudeLine::Events(events) = claude_line(
            r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}}"#,
        ) else {
            panic!("events")
        };
        assert_eq!(events[0], ("tool_result", json!({ "id": "t1", "text": "ok", "is_error": false })));
        let ClaudeLine::Result(info, _) = claude_line(
            r#"{"type":"result","subtype":"success","is_error":false,"result":"Done.","total_cost_usd":0.0123,"usage":{"input_tokens":100,"cache_read_input_tokens":20,"output_tokens":7}}"#,
        ) else {
            panic!("result")
        };
        assert_eq!(
            info,
            ResultInfo {
                input_tokens: Some(120),
                output_tokens: Some(7),
                cost_usd: Some(0.0123),
                text: Some("Done.".into()),
                is_error: false
            }
        );
        assert_eq!(claude_line("plain"), ClaudeLine::Events(vec![("output", json!({ "text": "plain\n" }))]));
        let message: Value = serde_json::from_str(claude_user_message("more").trim()).expect("json");
        assert_eq!(message["message"]["content"][0]["text"], "more");
    }

    #[test]
    fn acp_messages_are_told_apart() {
        assert_eq!(
            acp_line(r#"{"jsonrpc":"2.0","id":2,"result":{"stopReason":"end_turn"}}"#),
            AcpIncoming::Response { id: 2, result: Ok(json!({ "stopReason": "end_turn" })) }
        );
        assert_eq!(
            acp_line(r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"nope"}}"#),
            AcpIncoming::Response { id: 3, result: Err("nope".into()) }
        );
        let AcpIncoming::Request { method, .. } =
            acp_line(r#"{"jsonrpc":"2.0","id":"p1","method":"session/request_permission","params":{"options":[]}}"#)
        else {
            panic!("request")
        };
        assert_eq!(method, "session/request_permission");
        let AcpIncoming::Update(events) = acp_line(
            r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"hi"}}}}"#,
        ) else {
            panic!("update")
        };
        assert_eq!(events, vec![("message", json!({ "role": "assistant", "text": "hi", "chunk": true }))]);
        assert!(matches!(acp_line("not json"), AcpIncoming::Other(_)));
        let event = permission_event(
            "p1",
            &json!({ "toolCall": { "title": "Write a.txt" }, "options": [{ "optionId": "allow", "name": "Allow", "kind": "allow_once" }] }),
        );
        assert_eq!(event["options"][0]["id"], "allow");
        assert_eq!(event["title"], "Write a.txt");
    }
}
