// The generated TypeScript codec (its JavaScript, in Node) against hand-written `DataView`
// code, on the codec bench's small, chat and batch shapes (run by
// `cargo bench --bench all typescript`).
//
//     node typescript_codec.mjs MODULE.js SECONDS
//
// MODULE is the module generated for the bench's `PyShapes`. Prints one line per
// comparison: `NAME<TAB>GENERATED msg/s<TAB>HAND-WRITTEN msg/s` (the median of 5
// interleaved rounds). The hand-written side is what a careful programmer writes with
// `DataView` and `TextEncoder`/`TextDecoder` alone (as the chat page did before it used the
// generated module): the exact size computed first, a new buffer per message, the lengths
// checked, a class per message; and its encoders once more, written with more care (one
// scratch buffer reused, each message copied out of it, as the generated writer does). Its
// decoders know the message's type, and a receiver of its own reads the id first and calls
// the decoder of that id (the "as received" lines).
import { pathToFileURL } from "node:url";

const gen = await import(pathToFileURL(process.argv[2]).href);
const BUDGET = Number(process.argv[3]);

// ---- By hand --------------------------------------------------------------------------

class Pos {
  constructor(id, x, y, z) {
    this.id = id;
    this.x = x;
    this.y = y;
    this.z = z;
  }
}
class Say {
  constructor(sender, text) {
    this.sender = sender;
    this.text = text;
  }
}
class Position {
  constructor(id, x, y, z, flags) {
    this.id = id;
    this.x = x;
    this.y = y;
    this.z = z;
    this.flags = flags;
  }
}
class Positions {
  constructor(items) {
    this.items = items;
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function handEncodePos(m) {
  const out = new Uint8Array(18);
  const v = new DataView(out.buffer);
  v.setUint16(0, 1, true);
  v.setUint32(2, m.id, true);
  v.setInt32(6, m.x, true);
  v.setInt32(10, m.y, true);
  v.setInt32(14, m.z, true);
  return out;
}

function handDecodePos(data) {
  if (data.length !== 18) throw new Error("not a Pos");
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (v.getUint16(0, true) !== 1) throw new Error("not a Pos");
  return new Pos(v.getUint32(2, true), v.getInt32(6, true), v.getInt32(10, true), v.getInt32(14, true));
}

function handEncodeSay(m) {
  const a = enc.encode(m.sender);
  const b = enc.encode(m.text);
  const out = new Uint8Array(6 + a.length + b.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 2, true);
  v.setUint16(2, a.length, true);
  out.set(a, 4);
  v.setUint16(4 + a.length, b.length, true);
  out.set(b, 6 + a.length);
  return out;
}

function handDecodeSay(data) {
  if (data.length < 4) throw new Error("short");
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (v.getUint16(0, true) !== 2) throw new Error("not a Say");
  const n = v.getUint16(2, true);
  if (data.length < 6 + n) throw new Error("short");
  const sender = dec.decode(data.subarray(4, 4 + n));
  const m = v.getUint16(4 + n, true);
  if (data.length !== 6 + n + m) throw new Error("not a Say");
  return new Say(sender, dec.decode(data.subarray(6 + n)));
}

function handEncodeBatch(m) {
  const items = m.items;
  const out = new Uint8Array(4 + 18 * items.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 4, true);
  v.setUint16(2, items.length, true);
  let at = 4;
  for (const p of items) {
    v.setUint32(at, p.id, true);
    v.setFloat32(at + 4, p.x, true);
    v.setFloat32(at + 8, p.y, true);
    v.setFloat32(at + 12, p.z, true);
    v.setUint16(at + 16, p.flags, true);
    at += 18;
  }
  return out;
}

function handDecodeBatch(data) {
  if (data.length < 4) throw new Error("short");
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (v.getUint16(0, true) !== 4) throw new Error("not Positions");
  const n = v.getUint16(2, true);
  if (data.length !== 4 + 18 * n) throw new Error("not Positions");
  const items = new Array(n);
  for (let i = 0, at = 4; i < n; i++, at += 18) {
    items[i] = new Position(
      v.getUint32(at, true),
      v.getFloat32(at + 4, true),
      v.getFloat32(at + 8, true),
      v.getFloat32(at + 12, true),
      v.getUint16(at + 16, true),
    );
  }
  return new Positions(items);
}

// The same encoders written with more care: one scratch buffer and its DataView reused,
// the message's bytes copied out of it (what the generated writer does).
let scratch = new Uint8Array(4096);
let scratchView = new DataView(scratch.buffer);
function room(n) {
  if (n > scratch.length) {
    scratch = new Uint8Array(n * 2);
    scratchView = new DataView(scratch.buffer);
  }
}

function reuseEncodePos(m) {
  const v = scratchView;
  v.setUint16(0, 1, true);
  v.setUint32(2, m.id, true);
  v.setInt32(6, m.x, true);
  v.setInt32(10, m.y, true);
  v.setInt32(14, m.z, true);
  return scratch.slice(0, 18);
}

function reuseEncodeSay(m) {
  room(6 + 3 * (m.sender.length + m.text.length));
  const v = scratchView;
  v.setUint16(0, 2, true);
  const a = enc.encodeInto(m.sender, scratch.subarray(4)).written;
  v.setUint16(2, a, true);
  const b = enc.encodeInto(m.text, scratch.subarray(6 + a)).written;
  v.setUint16(4 + a, b, true);
  return scratch.slice(0, 6 + a + b);
}

function reuseEncodeBatch(m) {
  const items = m.items;
  room(4 + 18 * items.length);
  const v = scratchView;
  v.setUint16(0, 4, true);
  v.setUint16(2, items.length, true);
  let at = 4;
  for (const p of items) {
    v.setUint32(at, p.id, true);
    v.setFloat32(at + 4, p.x, true);
    v.setFloat32(at + 8, p.y, true);
    v.setFloat32(at + 12, p.z, true);
    v.setUint16(at + 16, p.flags, true);
    at += 18;
  }
  return scratch.slice(0, at);
}

// A hand-written receiver: the id read, then the message's decoder.
const HAND_BY_ID = { 1: handDecodePos, 2: handDecodeSay, 4: handDecodeBatch };
function handReceive(data) {
  return HAND_BY_ID[data[0] | (data[1] << 8)](data);
}

// ---- The values -------------------------------------------------------------------------

const f32 = (v) => Math.fround(v);
const small = [new gen.PyShapes.Pos(7, -3, 1000000, 42), new Pos(7, -3, 1000000, 42)];
const chat = [
  new gen.PyShapes.Say("player42", "gg, see you next round!!!"),
  new Say("player42", "gg, see you next round!!!"),
];
const items = Array.from({ length: 64 }, (_, i) => [i, f32(i * 0.5), f32(-i), 1.25, i % 7]);
const batch = [
  new gen.PyShapes.Positions(items.map((t) => new gen.Position(...t))),
  new Positions(items.map((t) => new Position(...t))),
];
const hand = {
  small: [handEncodePos, handDecodePos, reuseEncodePos],
  chat: [handEncodeSay, handDecodeSay, reuseEncodeSay],
  batch: [handEncodeBatch, handDecodeBatch, reuseEncodeBatch],
};
const sizes = { small: "18 B", chat: "~40 B", batch: "64 positions, 1156 B" };

// A sink the optimiser cannot drop calls into.
let sink = 0;

/** Calls of `f` per second, for about `seconds`. */
function rate(f, seconds) {
  let n = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink ^= f() === null ? 1 : 0;
    const took = Number(process.hrtime.bigint() - start) / 1e9;
    if (took >= seconds) return n / took;
    n *= took < seconds / 8 ? 2 : Math.max(2, Math.floor(seconds / Math.max(took, 1e-9)));
  }
}

function compare(name, ours, theirs) {
  const rounds = [];
  for (let i = 0; i < 5; i++) rounds.push([rate(ours, BUDGET / 10), rate(theirs, BUDGET / 10)]);
  rounds.sort((a, b) => a[0] / a[1] - b[0] / b[1]);
  const [o, t] = rounds[2];
  console.log(`${name}\t${o.toFixed(1)}\t${t.toFixed(1)}`);
}

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

for (const [shape, [g, h]] of [
  ["small", small],
  ["chat", chat],
  ["batch", batch],
]) {
  const [encode, decode, reuse] = hand[shape];
  const wire = g.encode();
  if (!same(wire, encode(h)) || !same(wire, reuse(h))) throw new Error(shape + ": the encodings differ");
  if (!same(gen.PyShapes.decode(wire).encode(), wire)) throw new Error(shape + ": no round trip");
  decode(wire);
  const label = `${shape} (${sizes[shape]})`;
  compare("encode " + label, () => g.encode(), () => encode(h));
  compare("encode " + label + " (hand-written reusing one buffer)", () => g.encode(), () => reuse(h));
  // A decoder that knows the message's type: the variant's own `decode` against the
  // hand-written decoder of that message; then a receiver, which reads the id and
  // dispatches: the enum's `decode` against a hand-written receiver.
  const own = g.constructor;
  compare("decode " + label, () => own.decode(wire), () => decode(wire));
  compare("decode " + label + " as received (by its id)", () => gen.PyShapes.decode(wire), () => handReceive(wire));
}
if (sink === 42) console.log("");
