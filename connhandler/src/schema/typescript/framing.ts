// ---- The framings, over Uint8Array. ----

/** Bytes that break the framing's rules. */
export class FramingError extends Error {
  constructor(message«: string») {
    super(message);
    this.name = "FramingError";
  }
}

/**
 * The TcpMessage framing of one message: chunks of `maxMessageSize` bytes, each after a
 * little-endian u16 of its length, 0 for a full chunk (a final full chunk says its length
 * when `explicitFinalChunk`, as connhandler writes it; 0 as the reference writes it).
 */
export function tcpMessageFrame(
  body«: Uint8Array»,
  maxMessageSize«: number» = MAX_MESSAGE_SIZE,
  explicitFinalChunk«: boolean» = EXPLICIT_FINAL_CHUNK,
)«: Uint8Array» {
  const n = body.length;
  if (n === 0) throw new EncodeError("an empty message cannot be framed");
  const chunks = Math.ceil(n / maxMessageSize);
  const out = new Uint8Array(n + 2 * chunks);
  let at = 0;
  for (let start = 0; start < n; start += maxMessageSize) {
    const end = Math.min(start + maxMessageSize, n);
    const size = end - start;
    const last = end === n;
    const header = size === maxMessageSize && !(last && explicitFinalChunk) ? 0 : size;
    out[at] = header & 0xff;
    out[at + 1] = header >> 8;
    out.set(body.subarray(start, end), at + 2);
    at += 2 + size;
  }
  return out;
}

/** Bytes as they arrive, kept until they are used. */
class Pending {
  «buf: Uint8Array;»
  «start: number;»
  «end: number;»
  constructor() {
    this.buf = new Uint8Array(4096);
    this.start = 0;
    this.end = 0;
  }
  push(data«: Uint8Array»)«: void» {
    if (this.end + data.length > this.buf.length) {
      const held = this.end - this.start;
      const size = Math.max(this.buf.length, 2 * (held + data.length));
      const next = size > this.buf.length ? new Uint8Array(size) : this.buf;
      next.set(this.buf.subarray(this.start, this.end), 0);
      this.buf = next;
      this.start = 0;
      this.end = held;
    }
    this.buf.set(data, this.end);
    this.end += data.length;
  }
  get length()«: number» {
    return this.end - this.start;
  }
  byte(i«: number»)«: number» {
    return this.buf[this.start + i]«!»;
  }
  /** `n` bytes after `skip`, copied out; both used. */
  take(skip«: number», n«: number»)«: Uint8Array» {
    const from = this.start + skip;
    const out = this.buf.slice(from, from + n);
    this.start = from + n;
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
    }
    return out;
  }
}

/** How a stream reader is limited and told a message's end. */
«export interface TcpMessageReaderOptions {
  /** The chunk size (the protocol's by default). */
  maxMessageSize?: number;
  /** The longest message taken (8 MiB by default); longer ones are a `FramingError`. */
  maxFrameLength?: number;
  /**
   * Whether bytes ending on a full chunk marked 0 are a whole message (the reference
   * writer's exact multiples); without it, such a message ends at `flush()`.
   */
  whole?: (body: Uint8Array) => boolean;
  /**
   * Whether bytes left open can be a message at all: `flush()` ends only such a message, so
   * that a message still arriving slowly is never cut by a pause.
   */
  couldEnd?: (body: Uint8Array) => boolean;
}»

/**
 * Reassembles TcpMessage messages from bytes as they arrive: `feed(data)` returns the
 * messages completed. A message that ends on a full chunk marked 0 (the reference writer's
 * exact multiples) ends where its bytes decode as a whole message, or at `flush()` (when no
 * more bytes come for a while).
 */
export class TcpMessageReader {
  «readonly max: number;»
  «readonly maxFrame: number;»
  «readonly whole: ((body: Uint8Array) => boolean) | undefined;»
  «readonly couldEnd: ((body: Uint8Array) => boolean) | undefined;»
  «pending: Pending;»
  «parts: Uint8Array[];»
  «partsLength: number;»
  «open: boolean;»
  constructor(options«: TcpMessageReaderOptions» = {}) {
    this.max = options.maxMessageSize ?? MAX_MESSAGE_SIZE;
    this.maxFrame = options.maxFrameLength ?? 8 << 20;
    this.whole = options.whole;
    this.couldEnd = options.couldEnd;
    this.pending = new Pending();
    this.parts = [];
    this.partsLength = 0;
    this.open = false;
  }
  feed(data«: Uint8Array»)«: Uint8Array[]» {
    this.pending.push(data);
    const out«: Uint8Array[]» = [];
    const p = this.pending;
    for (;;) {
      if (p.length < 2) return out;
      const header = p.byte(0) | (p.byte(1) << 8);
      if (header > this.max) {
        throw new FramingError("chunk length " + header + " exceeds max_message_size " + this.max);
      }
      const size = header === 0 ? this.max : header;
      if (p.length < 2 + size) return out;
      if (this.partsLength + size > this.maxFrame) {
        throw new FramingError("message longer than " + this.maxFrame + " bytes");
      }
      this.parts.push(p.take(2, size));
      this.partsLength += size;
      if (header === 0 && !(this.whole !== undefined && this.whole(this.joined()))) {
        this.open = true;
        continue;
      }
      out.push(this.joined());
      this.parts = [];
      this.partsLength = 0;
      this.open = false;
    }
  }
  /** Ends a message left open on a full chunk marked 0 (after a pause), if it can be one. */
  flush()«: Uint8Array[]» {
    if (!this.open || this.partsLength === 0) return [];
    if (this.couldEnd !== undefined && !this.couldEnd(this.joined())) return [];
    const done = this.joined();
    this.parts = [];
    this.partsLength = 0;
    this.open = false;
    return [done];
  }
  joined()«: Uint8Array» {
    if (this.parts.length === 1) return this.parts[0]«!»;
    const all = new Uint8Array(this.partsLength);
    let at = 0;
    for (const part of this.parts) {
      all.set(part, at);
      at += part.length;
    }
    this.parts = [all];
    return all;
  }
}

/** Panda3D's framing of one datagram: a little-endian length of `headerSize` bytes (0: none), then the bytes. */
export function panda3dFrame(body«: Uint8Array», headerSize«: number» = PANDA3D_HEADER_SIZE)«: Uint8Array» {
  if (headerSize === 0) return body.slice();
  if (headerSize !== 2 && headerSize !== 4) throw new EncodeError("a header of " + headerSize + " bytes");
  if (body.length >= 2 ** (8 * headerSize)) {
    throw new EncodeError(
      "a datagram of " + body.length + " bytes does not fit a " + headerSize + "-byte header",
    );
  }
  const out = new Uint8Array(headerSize + body.length);
  const view = new DataView(out.buffer);
  if (headerSize === 2) view.setUint16(0, body.length, true);
  else view.setUint32(0, body.length, true);
  out.set(body, headerSize);
  return out;
}

/** Cuts Panda3D datagrams from bytes as they arrive: `feed(data)` returns the datagrams completed. */
export class Panda3dReader {
  «readonly size: number;»
  «readonly maxFrame: number;»
  «pending: Pending;»
  constructor(headerSize«: number» = PANDA3D_HEADER_SIZE, maxFrameLength«: number» = 8 << 20) {
    if (headerSize !== 2 && headerSize !== 4) throw new Error("a stream reader needs a 2- or 4-byte header");
    this.size = headerSize;
    this.maxFrame = maxFrameLength;
    this.pending = new Pending();
  }
  feed(data«: Uint8Array»)«: Uint8Array[]» {
    this.pending.push(data);
    const p = this.pending;
    const out«: Uint8Array[]» = [];
    while (p.length >= this.size) {
      let n = 0;
      for (let i = this.size - 1; i >= 0; i--) n = n * 256 + p.byte(i);
      if (n > this.maxFrame) throw new FramingError("datagram of " + n + " bytes exceeds " + this.maxFrame);
      if (p.length < this.size + n) break;
      out.push(p.take(this.size, n));
    }
    return out;
  }
}

// ---- A WebSocket client. ----

/**
 * What the client helper needs of a WebSocket: the browser's, Node's (22, or 20 with
 * `--experimental-websocket`), or the `ws` package's.
 */
«export interface WebSocketLike {
  binaryType: unknown;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onmessage: unknown;
}»

/** What a client does with what it receives. */
«export interface ClientOptions {
  /** A message that does not decode (the client then closes the socket with 1007). */
  onError?: (error: DecodeError) => void;
}»

/**
 * Speaks the protocol over a WebSocket: each binary WebSocket message is one message.
 * Received messages are decoded and handed to `onMessage`; `send` encodes and sends.
 */
export class Client {
  «readonly socket: WebSocketLike;»
  «readonly onMessage: (message: Recv) => void;»
  «readonly onError: ((error: DecodeError) => void) | undefined;»
  constructor(socket«: WebSocketLike», onMessage«: (message: Recv) => void», options«: ClientOptions» = {}) {
    this.socket = socket;
    this.onMessage = onMessage;
    this.onError = options.onError;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event«: { data: unknown }») => this.received(event.data);
  }
  /** Encodes `message` and sends it. */
  send(message«: Send»)«: void» {
    this.socket.send(message.encode());
  }
  /** Closes the socket (1000 by default). */
  close(code«: number» = 1000, reason«: string» = "")«: void» {
    this.socket.close(code, reason);
  }
  received(data«: unknown»)«: void» {
    let message«: Recv»;
    try {
      if (data instanceof ArrayBuffer) message = RECV.decode(new Uint8Array(data));
      else if (data instanceof Uint8Array) message = RECV.decode(data);
      else throw new DecodeError(null, "message", "a text WebSocket message, not a binary one");
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      if (this.onError !== undefined) this.onError(e);
      this.socket.close(1007, "undecodable message");
      return;
    }
    this.onMessage(message);
  }
}

/**
 * Opens a WebSocket to `url` and speaks the protocol over it (see `Client`). `WebSocket` is
 * the constructor to use, the global one by default.
 */
export function connect(
  url«: string»,
  onMessage«: (message: Recv) => void»,
  options«: ClientOptions & { WebSocket?: new (url: string) => WebSocketLike }» = {},
)«: Client» {
  const Ctor =
    options.WebSocket ??
    (globalThis« as unknown as { WebSocket?: new (url: string) => WebSocketLike }»).WebSocket;
  if (Ctor === undefined) {
    throw new Error("no WebSocket here: pass options.WebSocket (Node 20: the ws package, or --experimental-websocket)");
  }
  return new Client(new Ctor(url), onMessage, options);
}
