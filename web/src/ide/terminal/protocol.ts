// The terminal WebSocket protocol, as pure functions (no DOM, no xterm.js), so it is
// unit-tested on its own.
//
// Server → client:
//   binary frame: 8-byte big-endian offset of the first byte, then output bytes
//   text frame:   JSON control messages: {"type":"hello","offset":N,"gap":bool,…} first,
//                 {"type":"exit","code":N} when the process ends
// Client → server:
//   binary frame: input bytes
//   text frame:   {"type":"resize","cols":C,"rows":R} (or {"type":"input","data":"…"})
//
// Offsets count bytes of the terminal's output since it started. The client keeps
// the offset just past the last byte it has shown; on reconnect it asks for
// `?after=<offset>` and drops any byte below that offset, so nothing is shown twice
// and nothing is lost (unless the server says `gap`: the scrollback no longer held it).

export const OFFSET_BYTES = 8;

export interface OutputFrame {
  /** The offset of `data[0]` in the terminal's output. */
  offset: number;
  data: Uint8Array;
}

export interface HelloMessage {
  type: "hello";
  /** The offset of the first byte the server will send on this connection. */
  offset: number;
  /** Output between the requested offset and `offset` is gone (past the scrollback). */
  gap: boolean;
  [key: string]: unknown;
}

export interface ExitMessage {
  type: "exit";
  code: number | null;
  [key: string]: unknown;
}

export interface OtherMessage {
  type: string;
  [key: string]: unknown;
}

export type ControlMessage = HelloMessage | ExitMessage | OtherMessage;

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

function asBytes(frame: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (frame instanceof Uint8Array) return frame;
  if (ArrayBuffer.isView(frame)) return new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
  return new Uint8Array(frame);
}

/** Parses a binary output frame: the 8-byte big-endian offset, then the bytes. */
export function decodeOutputFrame(frame: ArrayBuffer | ArrayBufferView): OutputFrame {
  const bytes = asBytes(frame);
  if (bytes.byteLength < OFFSET_BYTES) {
    throw new ProtocolError(`an output frame of ${bytes.byteLength} bytes has no offset`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, OFFSET_BYTES);
  const offset = view.getBigUint64(0, false);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError(`offset ${offset} is out of range`);
  return { offset: Number(offset), data: bytes.subarray(OFFSET_BYTES) };
}

/** Builds an output frame (the server's side; used by tests and fakes). */
export function encodeOutputFrame(offset: number, data: Uint8Array | string): Uint8Array {
  const payload = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const frame = new Uint8Array(OFFSET_BYTES + payload.byteLength);
  new DataView(frame.buffer).setBigUint64(0, BigInt(offset), false);
  frame.set(payload, OFFSET_BYTES);
  return frame;
}

/** Parses a text control frame; throws a ProtocolError on anything but a JSON object with a `type`. */
export function decodeControl(text: string): ControlMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ProtocolError(`a control frame is not JSON: ${text.slice(0, 80)}`);
  }
  if (!parsed || typeof parsed !== "object" || typeof (parsed as { type?: unknown }).type !== "string") {
    throw new ProtocolError(`a control frame has no type: ${text.slice(0, 80)}`);
  }
  const message = parsed as OtherMessage;
  if (message.type === "hello") {
    const offset = typeof message.offset === "number" && Number.isFinite(message.offset) ? message.offset : 0;
    return { ...message, type: "hello", offset, gap: message.gap === true };
  }
  if (message.type === "exit") {
    const code = typeof message.code === "number" ? message.code : null;
    return { ...message, type: "exit", code };
  }
  return message;
}

const encoder = new TextEncoder();

/** Input typed by the user, as a binary frame. */
export function encodeInput(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

/** A resize control frame. Sizes are clamped to what the server accepts (1 to 1000 cells). */
export function encodeResize(cols: number, rows: number): string {
  const clamp = (value: number) => Math.min(1000, Math.max(1, Math.floor(value) || 1));
  return JSON.stringify({ type: "resize", cols: clamp(cols), rows: clamp(rows) });
}

/** What `OutputCursor.accept` decided about a frame. */
export interface Accepted {
  /** The bytes to show (empty when the whole frame was already shown). */
  data: Uint8Array;
  /** Bytes skipped because the server no longer had them (0 normally). */
  missed: number;
}

/**
 * Offset bookkeeping: the offset just past the last byte shown. Frames are trimmed so
 * a byte is never shown twice; a frame starting past the offset is a gap.
 */
export class OutputCursor {
  private next: number;

  constructor(start = 0) {
    this.next = start;
  }

  /** The offset to reconnect with (`?after=`): everything below it has been shown. */
  get offset(): number {
    return this.next;
  }

  /** Trims a frame to the bytes not shown yet, and moves the offset past it. */
  accept(frame: OutputFrame): Accepted {
    const end = frame.offset + frame.data.byteLength;
    if (end <= this.next) return { data: frame.data.subarray(0, 0), missed: 0 };
    const missed = Math.max(0, frame.offset - this.next);
    const skip = Math.max(0, this.next - frame.offset);
    this.next = end;
    return { data: frame.data.subarray(skip), missed };
  }

  /** A hello from the server: bytes before its offset that we do not have are gone. */
  hello(message: HelloMessage): number {
    if (message.offset > this.next) {
      const missed = message.offset - this.next;
      this.next = message.offset;
      return missed;
    }
    return 0;
  }
}

/** The WebSocket URL of a terminal, same origin, resuming after `after` bytes. */
export function terminalSocketUrl(location: { protocol: string; host: string }, projectId: string, terminalId: string, after: number): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/v1/projects/${encodeURIComponent(projectId)}/terminals/${encodeURIComponent(terminalId)}/ws?after=${after}`;
}

/** Reconnect delay: exponential from 250 ms, capped at 10 s, with up to 20 % jitter. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(10_000, 250 * 2 ** Math.max(0, attempt));
  return Math.round(base * (1 + 0.2 * random()));
}
