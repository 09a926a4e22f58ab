import { describe, expect, it } from "vitest";

import { TerminalConnection, type SocketLike } from "./connection";
import {
  OutputCursor,
  ProtocolError,
  backoffDelay,
  decodeControl,
  decodeOutputFrame,
  encodeInput,
  encodeOutputFrame,
  encodeResize,
  terminalSocketUrl,
} from "./protocol";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("output frames", () => {
  it("round-trips the big-endian offset and the bytes", () => {
    const frame = encodeOutputFrame(0x1_0000_0001, "héllo");
    expect(Array.from(frame.subarray(0, 8))).toEqual([0, 0, 0, 1, 0, 0, 0, 1]);
    const decoded = decodeOutputFrame(frame.buffer as ArrayBuffer);
    expect(decoded.offset).toBe(0x1_0000_0001);
    expect(text(decoded.data)).toBe("héllo");
  });

  it("reads a frame that is a view into a larger buffer", () => {
    const backing = new Uint8Array(32);
    backing.set(encodeOutputFrame(5, "ab"), 10);
    const decoded = decodeOutputFrame(backing.subarray(10, 20));
    expect(decoded.offset).toBe(5);
    expect(text(decoded.data)).toBe("ab");
  });

  it("accepts an empty payload and refuses a frame shorter than the offset", () => {
    expect(decodeOutputFrame(encodeOutputFrame(7, "")).data.byteLength).toBe(0);
    expect(() => decodeOutputFrame(new Uint8Array(5))).toThrow(ProtocolError);
  });

  it("refuses offsets past what a number holds exactly", () => {
    const frame = new Uint8Array(8).fill(0xff);
    expect(() => decodeOutputFrame(frame)).toThrow(/out of range/);
  });
});

describe("control frames", () => {
  it("parses hello and exit, keeping extra fields", () => {
    expect(decodeControl('{"type":"hello","offset":42,"gap":true,"cols":80}')).toEqual({ type: "hello", offset: 42, gap: true, cols: 80 });
    expect(decodeControl('{"type":"hello"}')).toEqual({ type: "hello", offset: 0, gap: false });
    expect(decodeControl('{"type":"exit","code":3}')).toEqual({ type: "exit", code: 3 });
    expect(decodeControl('{"type":"exit"}')).toEqual({ type: "exit", code: null });
    expect(decodeControl('{"type":"title","title":"x"}')).toEqual({ type: "title", title: "x" });
  });

  it("refuses non-JSON and typeless frames", () => {
    expect(() => decodeControl("nope")).toThrow(ProtocolError);
    expect(() => decodeControl("[1]")).toThrow(ProtocolError);
    expect(() => decodeControl("null")).toThrow(ProtocolError);
  });

  it("encodes input as UTF-8 and resize with clamped sizes", () => {
    expect(Array.from(encodeInput("é"))).toEqual([0xc3, 0xa9]);
    const bytes = new Uint8Array([1, 2]);
    expect(encodeInput(bytes)).toBe(bytes);
    expect(JSON.parse(encodeResize(120.7, 30))).toEqual({ type: "resize", cols: 120, rows: 30 });
    expect(JSON.parse(encodeResize(0, 1e9))).toEqual({ type: "resize", cols: 1, rows: 1000 });
    expect(JSON.parse(encodeResize(Number.NaN, 2))).toEqual({ type: "resize", cols: 1, rows: 2 });
  });
});

describe("the output cursor", () => {
  it("passes frames in order and advances", () => {
    const cursor = new OutputCursor();
    expect(text(cursor.accept({ offset: 0, data: new TextEncoder().encode("abc") }).data)).toBe("abc");
    expect(text(cursor.accept({ offset: 3, data: new TextEncoder().encode("de") }).data)).toBe("de");
    expect(cursor.offset).toBe(5);
  });

  it("drops bytes already shown (a replay overlapping what we have)", () => {
    const cursor = new OutputCursor(5);
    expect(cursor.accept({ offset: 0, data: new TextEncoder().encode("abc") }).data.byteLength).toBe(0);
    expect(text(cursor.accept({ offset: 3, data: new TextEncoder().encode("defg") }).data)).toBe("fg");
    expect(cursor.offset).toBe(7);
  });

  it("reports a gap when a frame starts past the offset", () => {
    const cursor = new OutputCursor(2);
    const accepted = cursor.accept({ offset: 10, data: new TextEncoder().encode("x") });
    expect(accepted.missed).toBe(8);
    expect(text(accepted.data)).toBe("x");
    expect(cursor.offset).toBe(11);
  });

  it("moves to a hello's offset when the scrollback no longer holds ours", () => {
    const cursor = new OutputCursor(4);
    expect(cursor.hello({ type: "hello", offset: 2, gap: false })).toBe(0);
    expect(cursor.offset).toBe(4);
    expect(cursor.hello({ type: "hello", offset: 100, gap: true })).toBe(96);
    expect(cursor.offset).toBe(100);
  });
});

describe("urls and backoff", () => {
  it("builds same-origin ws and wss URLs", () => {
    expect(terminalSocketUrl({ protocol: "http:", host: "127.0.0.1:8080" }, "p 1", "t1", 12)).toBe(
      "ws://127.0.0.1:8080/api/v1/projects/p%201/terminals/t1/ws?after=12",
    );
    expect(terminalSocketUrl({ protocol: "https:", host: "dock.example" }, "p", "t", 0)).toMatch(/^wss:\/\/dock\.example\//);
  });

  it("grows exponentially to a cap, with bounded jitter", () => {
    expect(backoffDelay(0, () => 0)).toBe(250);
    expect(backoffDelay(3, () => 0)).toBe(2000);
    expect(backoffDelay(30, () => 0)).toBe(10_000);
    expect(backoffDelay(30, () => 1)).toBe(12_000);
  });
});

class FakeSocket implements SocketLike {
  binaryType = "blob";
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  sent: (string | Uint8Array)[] = [];
  closed = false;
  constructor(readonly url: string) {}
  send(data: string | Uint8Array) {
    this.sent.push(data);
  }
  close() {
    this.closed = true;
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  output(offset: number, data: string) {
    const frame = encodeOutputFrame(offset, data);
    this.onmessage?.({ data: frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) });
  }
  control(message: object) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
}

function harness(exists = true) {
  const sockets: FakeSocket[] = [];
  const timers: (() => void)[] = [];
  const shown: string[] = [];
  const states: string[] = [];
  const exits: (number | null)[] = [];
  const connection = new TerminalConnection({
    url: (after) => `ws://x/ws?after=${after}`,
    openSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    onOutput: (data) => shown.push(text(data)),
    onState: (state) => states.push(state),
    onExit: (code) => exits.push(code),
    stillExists: async () => exists,
    setTimer: (run) => timers.push(run),
    clearTimer: () => undefined,
    random: () => 0,
  });
  return { connection, sockets, timers, shown, states, exits };
}

const tick = () => new Promise((done) => setTimeout(done, 0));

describe("the terminal connection", () => {
  it("shows output, sends input and resizes once open", () => {
    const { connection, sockets, shown, states } = harness();
    connection.resize(100, 40);
    connection.start();
    const socket = sockets[0]!;
    expect(socket.url).toBe("ws://x/ws?after=0");
    expect(socket.binaryType).toBe("arraybuffer");
    connection.input("lost");
    socket.open();
    expect(socket.sent).toEqual([encodeResize(100, 40)]);
    socket.control({ type: "hello", offset: 0, gap: false });
    socket.output(0, "$ ");
    connection.input("ls\r");
    expect(text(socket.sent[1] as Uint8Array)).toBe("ls\r");
    expect(shown.join("")).toBe("$ ");
    expect(states).toEqual(["connecting", "open"]);
  });

  it("reconnects after a drop with the offset and shows nothing twice", async () => {
    const { connection, sockets, timers, shown, states } = harness();
    connection.start();
    sockets[0]!.open();
    sockets[0]!.output(0, "hello ");
    sockets[0]!.drop();
    await tick();
    expect(states.at(-1)).toBe("reconnecting");
    expect(timers).toHaveLength(1);
    timers.shift()!();
    const second = sockets[1]!;
    expect(second.url).toBe("ws://x/ws?after=6");
    second.open();
    second.control({ type: "hello", offset: 3, gap: false });
    second.output(3, "lo world");
    expect(shown.join("")).toBe("hello world");
    expect(connection.offset).toBe(11);
  });

  it("stops on exit and does not reconnect", async () => {
    const { connection, sockets, timers, exits, states } = harness();
    connection.start();
    sockets[0]!.open();
    sockets[0]!.control({ type: "exit", code: 2 });
    sockets[0]!.drop(1000);
    await tick();
    expect(exits).toEqual([2]);
    expect(states.at(-1)).toBe("exited");
    expect(timers).toHaveLength(0);
  });

  it("gives up when the terminal is gone", async () => {
    const { connection, sockets, timers, states } = harness(false);
    connection.start();
    sockets[0]!.open();
    sockets[0]!.drop();
    await tick();
    expect(timers).toHaveLength(0);
    expect(states.at(-1)).toBe("closed");
  });

  it("closes the socket for good on dispose", () => {
    const { connection, sockets, states } = harness();
    connection.start();
    sockets[0]!.open();
    connection.dispose();
    expect(sockets[0]!.closed).toBe(true);
    expect(states.at(-1)).toBe("closed");
  });
});
