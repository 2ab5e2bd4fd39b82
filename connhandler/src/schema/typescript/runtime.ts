// ---- The runtime: the same in every module this generator writes. ----

/**
 * A message that does not decode: the message's id (`null` when the id itself could not be
 * read), the field (`"Type.field"`) and why.
 */
export class DecodeError extends Error {
  «readonly messageId: number | bigint | null;»
  «readonly field: string;»
  «readonly reason: string;»
  constructor(messageId«: number | bigint | null», field«: string», reason«: string») {
    super(
      (messageId === null ? "message" : "message 0x" + messageId.toString(16)) +
        ", " + field + ": " + reason,
    );
    this.name = "DecodeError";
    this.messageId = messageId;
    this.field = field;
    this.reason = reason;
  }
}

/**
 * A value the protocol cannot carry: a number out of its type's range, a length over its
 * prefix, a value of the wrong type, a string that is not well-formed UTF-16.
 */
export class EncodeError extends Error {
  constructor(message«: string») {
    super(message);
    this.name = "EncodeError";
  }
}

const UTF8_DECODER = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const UTF8_ENCODER = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const MASK64 = 0xffffffffffffffffn;

/** Reads a message's fields in order, each read naming its field in its errors. */
export class Reader {
  «readonly data: Uint8Array;»
  «readonly view: DataView;»
  «pos: number;»
  «readonly end: number;»
  /** The id of the message being read, once known (for errors). */
  «messageId: number | bigint | null;»
  constructor(data«: Uint8Array») {
    this.data = data;
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.pos = 0;
    this.end = data.byteLength;
    this.messageId = null;
  }
  fail(field«: string», reason«: string»)«: never» {
    throw new DecodeError(this.messageId, field, reason);
  }
  /** The position of the next `n` bytes, which are then read. */
  need(n«: number», field«: string»)«: number» {
    const p = this.pos;
    if (p + n > this.end) this.fail(field, n + " bytes needed, " + (this.end - p) + " left");
    this.pos = p + n;
    return p;
  }
  u8(field«: string»)«: number» {
    return this.view.getUint8(this.need(1, field));
  }
  i8(field«: string»)«: number» {
    return this.view.getInt8(this.need(1, field));
  }
  u16(le«: boolean», field«: string»)«: number» {
    return this.view.getUint16(this.need(2, field), le);
  }
  i16(le«: boolean», field«: string»)«: number» {
    return this.view.getInt16(this.need(2, field), le);
  }
  u32(le«: boolean», field«: string»)«: number» {
    return this.view.getUint32(this.need(4, field), le);
  }
  i32(le«: boolean», field«: string»)«: number» {
    return this.view.getInt32(this.need(4, field), le);
  }
  u64(le«: boolean», field«: string»)«: bigint» {
    return this.view.getBigUint64(this.need(8, field), le);
  }
  i64(le«: boolean», field«: string»)«: bigint» {
    return this.view.getBigInt64(this.need(8, field), le);
  }
  u128(le«: boolean», field«: string»)«: bigint» {
    const p = this.need(16, field);
    const a = this.view.getBigUint64(p, le);
    const b = this.view.getBigUint64(p + 8, le);
    return le ? (b << 64n) | a : (a << 64n) | b;
  }
  i128(le«: boolean», field«: string»)«: bigint» {
    return BigInt.asIntN(128, this.u128(le, field));
  }
  f32(le«: boolean», field«: string»)«: number» {
    return this.view.getFloat32(this.need(4, field), le);
  }
  f64(le«: boolean», field«: string»)«: number» {
    return this.view.getFloat64(this.need(8, field), le);
  }
  bool(field«: string»)«: boolean» {
    const b = this.view.getUint8(this.need(1, field));
    if (b > 1) this.fail(field, "invalid bool " + b);
    return b === 1;
  }
  /** An option's tag: whether a value follows. */
  tag(field«: string»)«: boolean» {
    const b = this.view.getUint8(this.need(1, field));
    if (b > 1) this.fail(field, "invalid option tag " + b);
    return b === 1;
  }
  /**
   * A length or count prefix of `width` bytes, checked against what the bytes left can hold
   * (items of at least `minLen` bytes each), so that nothing is allocated that a peer merely
   * claims.
   */
  count(width«: number», le«: boolean», minLen«: number», field«: string»)«: number» {
    const n =
      width === 1 ? this.u8(field) : width === 2 ? this.u16(le, field) : this.u32(le, field);
    const left = this.end - this.pos;
    if (n * (minLen > 1 ? minLen : 1) > left) {
      this.fail(field, "length " + n + " is more than the " + left + " bytes left can hold");
    }
    return n;
  }
  /** `n` bytes, copied. */
  take(n«: number», field«: string»)«: Uint8Array» {
    const p = this.need(n, field);
    return this.data.slice(p, p + n);
  }
  /** Bytes after a length prefix, copied. */
  bytes(width«: number», le«: boolean», field«: string»)«: Uint8Array» {
    return this.take(this.count(width, le, 1, field), field);
  }
  /** UTF-8 text after a length prefix. */
  text(width«: number», le«: boolean», field«: string»)«: string» {
    const n = this.count(width, le, 1, field);
    return this.utf8(this.need(n, field), n, field);
  }
  /** The UTF-8 text of `n` bytes at `p` (invalid UTF-8 refused). */
  utf8(p«: number», n«: number», field«: string»)«: string» {
    if (n <= 16) {
      // Short ASCII text without a call into the decoder.
      const d = this.data;
      let s = "";
      let i = p;
      for (const end = p + n; i < end; i++) {
        const b = d[i]«!»;
        if (b >= 0x80) break;
        s += String.fromCharCode(b);
      }
      if (i === p + n) return s;
    }
    try {
      return UTF8_DECODER.decode(this.data.subarray(p, p + n));
    } catch (e) {
      return this.fail(field, "invalid UTF-8");
    }
  }
  /** The rest of the message, copied. */
  rest()«: Uint8Array» {
    return this.take(this.end - this.pos, "rest");
  }
  /** The rest of the message as UTF-8 text. */
  restText(field«: string»)«: string» {
    const n = this.end - this.pos;
    return this.utf8(this.need(n, field), n, field);
  }
  left()«: number» {
    return this.end - this.pos;
  }
  /** Fails unless every byte was read. */
  finish()«: void» {
    if (this.pos !== this.end) {
      this.fail("message", this.end - this.pos + " trailing bytes after the message");
    }
  }
}

function badValue(field«: string», value«: unknown», what«: string»)«: never» {
  let shown«: string»;
  try {
    shown = typeof value === "bigint" ? value + "n" : typeof value === "string" ? JSON.stringify(value) : String(value);
  } catch (e) {
    shown = typeof value;
  }
  throw new EncodeError(field + ": " + shown + " is not " + what);
}

/** Writes a message's fields in order, checking each value against its wire type. */
export class Writer {
  «buf: Uint8Array;»
  «view: DataView;»
  «pos: number;»
  constructor(size«: number» = 256) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }
  /** The position of `n` bytes more, which are then written. */
  room(n«: number»)«: number» {
    const p = this.pos;
    if (p + n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, p + n));
      bigger.set(this.buf.subarray(0, p));
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
    }
    this.pos = p + n;
    return p;
  }
  u8(v«: number», field«: string»)«: void» {
    if ((v & 0xff) !== v) badValue(field, v, "a u8");
    const p = this.room(1);
    this.buf[p] = v;
  }
  i8(v«: number», field«: string»)«: void» {
    if (((v << 24) >> 24) !== v) badValue(field, v, "an i8");
    const p = this.room(1);
    this.view.setInt8(p, v);
  }
  u16(v«: number», le«: boolean», field«: string»)«: void» {
    if ((v & 0xffff) !== v) badValue(field, v, "a u16");
    const p = this.room(2);
    this.view.setUint16(p, v, le);
  }
  i16(v«: number», le«: boolean», field«: string»)«: void» {
    if (((v << 16) >> 16) !== v) badValue(field, v, "an i16");
    const p = this.room(2);
    this.view.setInt16(p, v, le);
  }
  u32(v«: number», le«: boolean», field«: string»)«: void» {
    if (v >>> 0 !== v) badValue(field, v, "a u32");
    const p = this.room(4);
    this.view.setUint32(p, v, le);
  }
  i32(v«: number», le«: boolean», field«: string»)«: void» {
    if ((v | 0) !== v) badValue(field, v, "an i32");
    const p = this.room(4);
    this.view.setInt32(p, v, le);
  }
  u64(v«: bigint», le«: boolean», field«: string»)«: void» {
    if (typeof v !== "bigint" || BigInt.asUintN(64, v) !== v) badValue(field, v, "a u64 (a bigint)");
    const p = this.room(8);
    this.view.setBigUint64(p, v, le);
  }
  i64(v«: bigint», le«: boolean», field«: string»)«: void» {
    if (typeof v !== "bigint" || BigInt.asIntN(64, v) !== v) badValue(field, v, "an i64 (a bigint)");
    const p = this.room(8);
    this.view.setBigInt64(p, v, le);
  }
  u128(v«: bigint», le«: boolean», field«: string»)«: void» {
    if (typeof v !== "bigint" || BigInt.asUintN(128, v) !== v) badValue(field, v, "a u128 (a bigint)");
    this.put128(v, le);
  }
  i128(v«: bigint», le«: boolean», field«: string»)«: void» {
    if (typeof v !== "bigint" || BigInt.asIntN(128, v) !== v) badValue(field, v, "an i128 (a bigint)");
    this.put128(BigInt.asUintN(128, v), le);
  }
  put128(v«: bigint», le«: boolean»)«: void» {
    const p = this.room(16);
    const low = v & MASK64;
    const high = v >> 64n;
    this.view.setBigUint64(p, le ? low : high, le);
    this.view.setBigUint64(p + 8, le ? high : low, le);
  }
  f32(v«: number», le«: boolean», field«: string»)«: void» {
    if (typeof v !== "number") badValue(field, v, "a number");
    const p = this.room(4);
    this.view.setFloat32(p, v, le);
  }
  f64(v«: number», le«: boolean», field«: string»)«: void» {
    if (typeof v !== "number") badValue(field, v, "a number");
    const p = this.room(8);
    this.view.setFloat64(p, v, le);
  }
  bool(v«: boolean», field«: string»)«: void» {
    if (v !== true && v !== false) badValue(field, v, "a boolean");
    const p = this.room(1);
    this.buf[p] = v ? 1 : 0;
  }
  /** An option's tag. */
  tag(some«: boolean»)«: void» {
    const p = this.room(1);
    this.buf[p] = some ? 1 : 0;
  }
  /** A length or count prefix of `width` bytes. */
  count(n«: number», width«: number», le«: boolean», field«: string»)«: void» {
    if (width === 1) {
      if (n > 0xff) throw new EncodeError(field + ": length " + n + " does not fit a 1-byte prefix");
      const p = this.room(1);
      this.buf[p] = n;
    } else if (width === 2) {
      if (n > 0xffff) throw new EncodeError(field + ": length " + n + " does not fit a 2-byte prefix");
      const p = this.room(2);
      this.view.setUint16(p, n, le);
    } else {
      if (n > 0xffffffff) throw new EncodeError(field + ": length " + n + " does not fit a 4-byte prefix");
      const p = this.room(4);
      this.view.setUint32(p, n, le);
    }
  }
  /** A vec's items: checked to be an array, its count written. */
  items«<T>»(v«: T[]», width«: number», le«: boolean», field«: string»)«: T[]» {
    if (!Array.isArray(v)) badValue(field, v, "an array");
    this.count(v.length, width, le, field);
    return v;
  }
  /** Exactly `n` items. */
  exactly«<T>»(v«: T[]», n«: number», field«: string»)«: T[]» {
    if (!Array.isArray(v) || v.length !== n) badValue(field, v, "an array of " + n + " items");
    return v;
  }
  /** Raw bytes with no prefix (`n`: exactly so many, when given). */
  raw(v«: Uint8Array», field«: string», n«: number» = -1)«: void» {
    if (!(v instanceof Uint8Array)) badValue(field, v, "a Uint8Array");
    if (n >= 0 && v.length !== n) badValue(field, v, "a Uint8Array of " + n + " bytes");
    const p = this.room(v.length);
    this.buf.set(v, p);
  }
  /** Bytes after a length prefix. */
  bytes(v«: Uint8Array», width«: number», le«: boolean», field«: string»)«: void» {
    if (!(v instanceof Uint8Array)) badValue(field, v, "a Uint8Array");
    this.count(v.length, width, le, field);
    const p = this.room(v.length);
    this.buf.set(v, p);
  }
  /** UTF-8 text after a length prefix (`width` 0: no prefix, the rest of the message). */
  text(v«: string», width«: number», le«: boolean», field«: string»)«: void» {
    if (typeof v !== "string") badValue(field, v, "a string");
    const n = v.length;
    const start = this.pos;
    if (n <= 64) {
      // Short ASCII text, byte by byte (no call into the encoder, nothing to check).
      const p = this.room(width + n);
      const buf = this.buf;
      let i = 0;
      for (; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p + width + i] = c;
      }
      if (i === n) {
        if (width === 1) buf[p] = n;
        else if (width === 2) this.view.setUint16(p, n, le);
        else if (width === 4) this.view.setUint32(p, n, le);
        return;
      }
      this.pos = start;
    }
    if (!wellFormed(v)) badValue(field, v, "well-formed UTF-16 (it has a lone surrogate)");
    // At most 3 bytes per UTF-16 unit; the prefix is written once the length is known.
    this.room(width + n * 3);
    // (`this.buf` read after `room`, which may have made it anew.)
    const written = UTF8_ENCODER.encodeInto(v, this.buf.subarray(start + width)).written«!»;
    this.pos = start;
    if (width > 0) this.count(written, width, le, field);
    this.pos = start + width + written;
  }
}

/** Whether `s` is well-formed UTF-16 (no lone surrogate), which UTF-8 can carry. */
function wellFormed(s«: string»)«: boolean» {
  const native = («»s« as unknown as { isWellFormed?: () => boolean }»).isWellFormed;
  return native !== undefined ? native.call(s) : !LONE_SURROGATE.test(s);
}

/** A generated message: what every class shares. */
«export interface Message {
  readonly kind?: string;
  encode(): Uint8Array;
  _write(w: Writer): void;
}»

let sharedWriter«: Writer | null» = new Writer(1024);

/** `message`'s bytes, written through the module's writer (a fresh one when it is busy). */
export function encodeMessage(message«: Message»)«: Uint8Array» {
  const w = sharedWriter === null ? new Writer() : sharedWriter;
  sharedWriter = null;
  w.pos = 0;
  try {
    message._write(w);
  } catch (e) {
    sharedWriter = w;
    if (e instanceof TypeError) throw new EncodeError("a value of the wrong type: " + e.message);
    throw e;
  }
  const out = w.buf.slice(0, w.pos);
  if (w.buf.length <= 65536) sharedWriter = w;
  return out;
}

/** Decodes the whole of `data` with `read`: trailing bytes are an error. */
export function decodeWhole«<T>»(data«: Uint8Array», read«: (r: Reader) => T»)«: T» {
  if (!(data instanceof Uint8Array)) throw new TypeError("decode takes a Uint8Array");
  const r = new Reader(data);
  const value = read(r);
  r.finish();
  return value;
}

/**
 * Codecs of the types the protocol leaves to its user (hand-written `Wire` impls and `with`
 * codecs on the Rust side), by the name the protocol gives them.
 */
«export interface OpaqueCodec {
  write(w: Writer, value: unknown, field: string): void;
  read(r: Reader, field: string): unknown;
}»
export const OPAQUE«: Record<string, OpaqueCodec>» = {};

function opaque(name«: string», field«: string»)«: OpaqueCodec» {
  const codec = OPAQUE[name];
  if (codec === undefined) {
    throw new EncodeError(field + ": no codec for " + name + " in OPAQUE (the Rust side's own)");
  }
  return codec;
}
