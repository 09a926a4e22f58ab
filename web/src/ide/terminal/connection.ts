// One terminal's connection: opens the WebSocket, feeds output through the offset
// cursor, reconnects with backoff after a drop (resuming after the last byte shown),
// and stops for good once the process has exited or the terminal is gone. Knows
// nothing about xterm.js: output goes to `onOutput`, so it is testable with a fake socket.
import {
  OutputCursor,
  ProtocolError,
  backoffDelay,
  decodeControl,
  decodeOutputFrame,
  encodeInput,
  encodeResize,
} from "./protocol";

export type ConnectionState = "connecting" | "open" | "reconnecting" | "exited" | "closed";

/** The part of the browser's WebSocket this uses. */
export interface SocketLike {
  binaryType: string;
  readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export interface ConnectionOptions {
  /** The socket URL to resume after `after` bytes. */
  url(after: number): string;
  openSocket?(url: string): SocketLike;
  onOutput(data: Uint8Array): void;
  onState?(state: ConnectionState, detail?: string): void;
  /** The server said a span of output is gone (past its scrollback). */
  onGap?(missed: number): void;
  onExit?(code: number | null): void;
  /** Asked after a drop: does the terminal still exist? False stops reconnecting. */
  stillExists?(): Promise<boolean>;
  setTimer?(run: () => void, ms: number): unknown;
  clearTimer?(timer: unknown): void;
  random?(): number;
}

const OPEN = 1;
/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSE_CODES = new Set([1008, 4001, 4003, 4004, 4404]);

export class TerminalConnection {
  private readonly options: ConnectionOptions;
  private readonly cursor = new OutputCursor();
  private socket: SocketLike | null = null;
  private timer: unknown = null;
  private attempt = 0;
  private pendingSize: { cols: number; rows: number } | null = null;
  private stateNow: ConnectionState = "connecting";
  private stopped = false;
  private everOpened = false;

  constructor(options: ConnectionOptions) {
    this.options = options;
  }

  get state(): ConnectionState {
    return this.stateNow;
  }

  /** The offset just past the last byte shown. */
  get offset(): number {
    return this.cursor.offset;
  }

  start(): void {
    this.connect();
  }

  /** Sends typed input; dropped while disconnected (as a real terminal would lose it). */
  input(data: string | Uint8Array): void {
    if (this.socket && this.socket.readyState === OPEN && this.stateNow === "open") {
      this.socket.send(encodeInput(data));
    }
  }

  /** Sends the terminal size now, or once connected. */
  resize(cols: number, rows: number): void {
    this.pendingSize = { cols, rows };
    if (this.socket && this.socket.readyState === OPEN && this.stateNow === "open") {
      this.socket.send(encodeResize(cols, rows));
    }
  }

  /** Closes for good (the tab closed or the panel unmounted). */
  dispose(): void {
    this.stopped = true;
    if (this.timer !== null) (this.options.clearTimer ?? clearTimeout)(this.timer as ReturnType<typeof setTimeout>);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.onerror = null;
      socket.onopen = null;
      socket.close(1000, "closed");
    }
    if (this.stateNow !== "exited") this.setState("closed");
  }

  private setState(state: ConnectionState, detail?: string): void {
    this.stateNow = state;
    this.options.onState?.(state, detail);
  }

  private connect(): void {
    if (this.stopped) return;
    this.setState(this.everOpened ? "reconnecting" : "connecting");
    const url = this.options.url(this.cursor.offset);
    let socket: SocketLike;
    try {
      socket = this.options.openSocket ? this.options.openSocket(url) : (new WebSocket(url) as unknown as SocketLike);
    } catch (error) {
      this.scheduleReconnect(String(error));
      return;
    }
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.everOpened = true;
      this.setState("open");
      if (this.pendingSize) socket.send(encodeResize(this.pendingSize.cols, this.pendingSize.rows));
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onerror = () => {
      // A close event always follows; the reconnect happens there.
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped || this.stateNow === "exited") return;
      if (FINAL_CLOSE_CODES.has(event.code)) {
        this.setState("closed", event.reason || `closed (${event.code})`);
        return;
      }
      void this.afterDrop(event.reason || `connection lost (${event.code})`);
    };
  }

  private async afterDrop(reason: string): Promise<void> {
    if (this.options.stillExists) {
      let exists = true;
      try {
        exists = await this.options.stillExists();
      } catch {
        exists = true; // The server is unreachable: keep trying.
      }
      if (this.stopped) return;
      if (!exists) {
        this.setState("closed", "the terminal no longer exists");
        return;
      }
    }
    this.scheduleReconnect(reason);
  }

  private scheduleReconnect(reason: string): void {
    if (this.stopped) return;
    this.setState("reconnecting", reason);
    const delay = backoffDelay(this.attempt, this.options.random);
    this.attempt += 1;
    const setTimer = this.options.setTimer ?? ((run: () => void, ms: number) => setTimeout(run, ms));
    this.timer = setTimer(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private receive(data: unknown): void {
    if (typeof data === "string") {
      let message;
      try {
        message = decodeControl(data);
      } catch (error) {
        if (error instanceof ProtocolError) return; // An unknown frame is not worth a dropped terminal.
        throw error;
      }
      if (message.type === "hello") {
        this.attempt = 0;
        const missed = this.cursor.hello(message as { type: "hello"; offset: number; gap: boolean });
        if (missed > 0 || (message as { gap?: boolean }).gap) this.options.onGap?.(missed);
      } else if (message.type === "exit") {
        const code = typeof message.code === "number" ? message.code : null;
        this.stateNow = "exited";
        this.options.onExit?.(code);
        this.setState("exited", code === null ? undefined : `exit code ${code}`);
      }
      return;
    }
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      let frame;
      try {
        frame = decodeOutputFrame(data as ArrayBuffer);
      } catch {
        return;
      }
      const accepted = this.cursor.accept(frame);
      if (accepted.missed > 0) this.options.onGap?.(accepted.missed);
      if (accepted.data.byteLength > 0) this.options.onOutput(accepted.data);
    }
  }
}
