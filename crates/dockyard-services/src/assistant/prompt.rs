//! What the model is told: the chat's system message with the open file and
//! the selection (bounded: a large file is cut to a window around the
//! selection), and the code-completion prompt.

use super::wire::WireMessage;

/// The most of the open file sent with a chat, in bytes (about 6k tokens).
pub(crate) const MAX_FILE_CONTEXT_BYTES: usize = 24 * 1024;
/// The most of the selection sent with a chat, in bytes.
pub(crate) const MAX_SELECTION_BYTES: usize = 8 * 1024;
/// The most text before and after the cursor sent for a completion, in bytes.
pub(crate) const MAX_PREFIX_BYTES: usize = 12 * 1024;
pub(crate) const MAX_SUFFIX_BYTES: usize = 4 * 1024;
/// Changes whenever the prompts below change, so cached completions made
/// with an older prompt are not served.
pub(crate) const PROMPT_VERSION: &str = "dockyard-assistant-v1";

const CHAT_SYSTEM: &str = "You are the coding assistant built into Dockyard, a browser IDE. Answer the \
developer's questions about their code precisely and concisely. Use Markdown, with fenced code blocks \
(naming the language) for code.";

const COMPLETE_SYSTEM: &str = "You are a code completion engine inside an editor. You are shown the file's \
text before the cursor and after it. Reply with only the text to insert at the cursor: no explanation, no \
Markdown code fences, nothing repeated from before or after the cursor. Reply with nothing when no insertion fits.";

/// The file open in the editor, as the chat request describes it.
#[derive(Debug, Clone, Default)]
pub struct EditorContext {
    pub path: Option<String>,
    pub language: Option<String>,
    pub content: Option<String>,
    pub selection: Option<String>,
}

/// The largest index `<= index` on a character boundary of `text`.
fn floor_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The smallest index `>= index` on a character boundary of `text`.
fn ceil_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

/// At most `max` bytes of `text` from its start, cut on a character boundary.
pub(crate) fn head(text: &str, max: usize) -> &str {
    &text[..floor_boundary(text, max)]
}

/// At most `max` bytes of `text` from its end, cut on a character boundary.
pub(crate) fn tail(text: &str, max: usize) -> &str {
    &text[ceil_boundary(text, text.len().saturating_sub(max))..]
}

/// A window of at most `max` bytes of `content`, centred on `focus` (a byte
/// range), widened to whole lines where that still fits. Answers the window's
/// byte range.
fn window(content: &str, focus: (usize, usize), max: usize) -> (usize, usize) {
    if content.len() <= max {
        return (0, content.len());
    }
    let (focus_start, focus_end) = focus;
    let focus_len = focus_end - focus_start;
    let (start, end) = if focus_len >= max {
        (focus_start, focus_start + max)
    } else {
        let spare = max - focus_len;
        let mut start = focus_start.saturating_sub(spare / 2);
        let mut end = (focus_end + (spare - (focus_start - start))).min(content.len());
        // Near the end: give what is left to the text before.
        start = start.min(end.saturating_sub(max));
        end = end.max(start);
        (start, end)
    };
    let mut start = ceil_boundary(content, start);
    let mut end = floor_boundary(content, end);
    // Whole lines: start after a newline, end at one (unless that loses the focus).
    if start > 0
        && let Some(newline) = content[start..].find('\n')
        && start + newline < focus_start
    {
        start += newline + 1;
    }
    if end < content.len()
        && let Some(newline) = content[..end].rfind('\n')
        && newline >= focus_end.max(start)
    {
        end = newline + 1;
    }
    (start, end)
}

/// A Markdown fence longer than any run of backticks in `text`.
fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

fn fenced(text: &str, language: &str) -> String {
    let fence = fence(text);
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{language}\n{text}{newline}{fence}")
}

fn line_of(content: &str, byte: usize) -> usize {
    content[..byte].matches('\n').count() + 1
}

/// The chat's system message: who the model is, and the open file around the selection.
pub(crate) fn chat_system_message(context: Option<&EditorContext>) -> WireMessage {
    let mut text = CHAT_SYSTEM.to_owned();
    if let Some(context) = context {
        let language = context.language.as_deref().unwrap_or("");
        let selection = context.selection.as_deref().filter(|selection| !selection.is_empty());
        if let Some(path) = context.path.as_deref() {
            text.push_str(&format!("\n\nThe developer has the file `{path}` open in the editor"));
            if !language.is_empty() {
                text.push_str(&format!(" (language: {language})"));
            }
            text.push('.');
        }
        if let Some(content) = context.content.as_deref() {
            let focus = selection
                .and_then(|selection| content.find(selection).map(|start| (start, start + selection.len())))
                .unwrap_or((0, 0));
            let (start, end) = window(content, focus, MAX_FILE_CONTEXT_BYTES);
            if start == 0 && end == content.len() {
                text.push_str("\n\nThe file's content:\n");
            } else {
                let total = content.lines().count();
                let last = line_of(content, floor_boundary(content, end.saturating_sub(1)).max(start));
                text.push_str(&format!(
                    "\n\nThe file is long; this is lines {} to {last} of {total} (the rest is left out):\n",
                    line_of(content, start)
                ));
            }
            text.push_str(&fenced(&content[start..end], language));
        }
        if let Some(selection) = selection {
            let shown = head(selection, MAX_SELECTION_BYTES);
            let note = if shown.len() < selection.len() { " (cut short; it is longer)" } else { "" };
            text.push_str(&format!("\n\nThe developer selected this text{note}:\n"));
            text.push_str(&fenced(shown, language));
        }
    }
    WireMessage { role: "system", content: text }
}

/// The messages of a completion request: the instructions, then the text
/// around the cursor (already cut to [`MAX_PREFIX_BYTES`] and [`MAX_SUFFIX_BYTES`]).
pub(crate) fn completion_messages(path: &str, language: Option<&str>, prefix: &str, suffix: &str) -> Vec<WireMessage> {
    let mut user = format!("File: {path}\n");
    if let Some(language) = language.filter(|language| !language.is_empty()) {
        user.push_str(&format!("Language: {language}\n"));
    }
    user.push_str("\n<before_cursor>\n");
    user.push_str(prefix);
    user.push_str("\n</before_cursor>\n<after_cursor>\n");
    user.push_str(suffix);
    user.push_str("\n</after_cursor>");
    vec![
        WireMessage { role: "system", content: COMPLETE_SYSTEM.to_owned() },
        WireMessage { role: "user", content: user },
    ]
}

/// Models wrap code in fences despite being told not to; take the inside.
pub(crate) fn strip_fences(completion: &str) -> String {
    let trimmed = completion.trim();
    if let Some(rest) = trimmed.strip_prefix("```")
        && let Some(body_start) = rest.find('\n')
        && let Some(body) = rest[body_start + 1..].strip_suffix("```")
    {
        return body.strip_suffix('\n').unwrap_or(body).to_owned();
    }
    completion.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_go_whole_with_the_selection() {
        let context = EditorContext {
            path: Some("src/main.rs".into()),
            language: Some("rust".into()),
            content: Some("fn main() {\n    println!(\"hi\");\n}\n".into()),
            selection: Some("println!(\"hi\");".into()),
        };
        let message = chat_system_message(Some(&context));
        assert_eq!(message.role, "system");
        assert!(message.content.contains("`src/main.rs`"), "{}", message.content);
        assert!(message.content.contains("```rust\nfn main() {\n    println!(\"hi\");\n}\n```"), "{}", message.content);
        assert!(message.content.contains("selected this text:\n```rust\nprintln!(\"hi\");\n```"));
    }

    #[test]
    fn large_files_are_cut_around_the_selection_on_line_boundaries() {
        let mut content = String::new();
        for n in 1..=20_000 {
            content.push_str(&format!("line {n} ✓\n"));
        }
        let selection = "line 15000 ✓\nline 15001 ✓";
        let context =
            EditorContext { content: Some(content.clone()), selection: Some(selection.into()), ..Default::default() };
        let message = chat_system_message(Some(&context)).content;
        assert!(message.contains("line 15000 ✓\nline 15001 ✓"));
        assert!(!message.contains("\nline 1 ✓\n"));
        assert!(message.contains("of 20000 "), "{}", &message[..400]);
        let body_start = message.find("```\n").expect("a fence") + 4;
        let body = &message[body_start..message[body_start..].find("```").expect("closing fence") + body_start];
        assert!(body.len() <= MAX_FILE_CONTEXT_BYTES, "{}", body.len());
        assert!(body.starts_with("line ") && body.ends_with("✓\n"), "whole lines: {:?}", &body[..20]);
        // A selection that is not in the file: the window is the start of it.
        let context = EditorContext { content: Some(content), selection: Some("nowhere".into()), ..Default::default() };
        assert!(chat_system_message(Some(&context)).content.contains("lines 1 to "));
    }

    #[test]
    fn windows_stay_in_bounds_everywhere() {
        let content = "ab\ncdé\nfg\n".repeat(50);
        for start in 0..content.len() {
            if !content.is_char_boundary(start) {
                continue;
            }
            for max in [1, 5, 17, 64] {
                let end = (start + 3).min(content.len());
                let end = floor_boundary(&content, end).max(start);
                let (from, to) = window(&content, (start, end), max);
                assert!(from <= to && to <= content.len());
                assert!(content.is_char_boundary(from) && content.is_char_boundary(to));
                assert!(to - from <= max.max(end - start), "{from}..{to} for max {max}");
            }
        }
    }

    #[test]
    fn fences_outgrow_backticks_in_the_text() {
        assert_eq!(fence("no ticks"), "```");
        assert_eq!(fence("has ```` four"), "`````");
    }

    #[test]
    fn head_and_tail_cut_on_character_boundaries() {
        assert_eq!(head("héllo", 2), "h");
        assert_eq!(tail("héllo", 4), "llo");
        assert_eq!(tail("abc", 10), "abc");
    }

    #[test]
    fn fenced_completions_are_unwrapped() {
        assert_eq!(strip_fences("```rust\nlet x = 1;\n```"), "let x = 1;");
        assert_eq!(strip_fences("let x = 1;"), "let x = 1;");
    }
}
