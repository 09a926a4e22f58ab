// A Server-Sent Events parser for streams read with fetch (EventSource cannot POST).
// It follows the HTML spec's event-stream interpretation: lines end in CRLF, LF or CR
// (a CR at the end of one chunk may pair with an LF at the start of the next), `data`
// lines join with "\n", comments (":") are skipped, and an event is dispatched on a
// blank line. Chunks may be split anywhere, even inside a line or a line ending.

export interface SseEvent {
  /** The `event:` field; "message" when the stream named none. */
  event: string;
  data: string;
  id?: string;
}

export interface SseParser {
  /** Feeds decoded text; answers the events completed by it. */
  push(text: string): SseEvent[];
  /** The stream ended: an event without its blank line is dropped, as the spec says. */
  end(): SseEvent[];
}

export function createSseParser(): SseParser {
  let buffer = "";
  // The last chunk ended in CR: an LF opening the next one belongs to that line end.
  let skipLf = false;
  let eventName = "";
  let data: string[] = [];
  let hasData = false;
  let lastId: string | undefined;

  const line = (text: string, out: SseEvent[]) => {
    if (text === "") {
      if (hasData) out.push({ event: eventName || "message", data: data.join("\n"), ...(lastId !== undefined ? { id: lastId } : {}) });
      eventName = "";
      data = [];
      hasData = false;
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        eventName = value;
        break;
      case "data":
        data.push(value);
        hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) lastId = value;
        break;
      default:
        // `retry` and unknown fields do not matter to a one-shot stream.
        break;
    }
  };

  return {
    push(text) {
      const out: SseEvent[] = [];
      if (skipLf && text.startsWith("\n")) text = text.slice(1);
      skipLf = false;
      buffer += text;
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        line(buffer.slice(start, i), out);
        if (c === 13) {
          if (i + 1 < buffer.length) {
            if (buffer.charCodeAt(i + 1) === 10) i++;
          } else {
            skipLf = true;
          }
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
      return out;
    },
    end() {
      buffer = "";
      eventName = "";
      data = [];
      hasData = false;
      return [];
    },
  };
}
