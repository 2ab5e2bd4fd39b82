// The JavaScript side of the conformance harness (tests/conformance.rs), for Node and for
// Chromium: `peer(module)` takes the generated module and returns `answer(line)`, which
// answers one request:
//
//     rt HEX   -> "ok HEX" (decoded and encoded again) | "err MESSAGE" (DecodeError)
//     fl HEX   -> the same, for float specials (no equality checks: NaN is not NaN)
//     mk SEED  -> "ok HEX" (a value made here, from SEED, encoded)
//     be N     -> "err MESSAGE" (EncodeError) for the Nth value the protocol cannot carry
//     fr SIZE  -> "ok TCP REF P2 P4": a Texts message with SIZE bytes of text, framed as
//                 TcpMessage (connhandler's final chunk, then the reference's) and as
//                 Panda3D datagrams (2- and 4-byte headers; "-" where it does not fit),
//                 each read back through the module's stream readers fed 7 bytes at a time
//     cl HEX   -> "ok ..." what the WebSocket client helper did with HEX as a binary
//                 WebSocket message (after sending an Empty): the socket's binaryType, what
//                 it sent, and the calls it made (message KIND, error, close CODE)
//
// Anything else the module throws is reported as "crash TYPE: MESSAGE", which the harness
// fails on.

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

function unhex(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// A seeded generator (splitmix64 over BigInt), so that a seed makes the same value on
// every run and in every runtime.
class Rng {
  constructor(seed) {
    this.state = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
  }
  next64() {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return z ^ (z >> 31n);
  }
  /** A number in [0, n), n below 2^32. */
  below(n) {
    return Number(this.next64() % BigInt(n));
  }
  bits(n) {
    let v = 0n;
    for (let got = 0; got < n; got += 64) v = (v << 64n) | this.next64();
    return BigInt.asUintN(n, v);
  }
  signed(n) {
    return BigInt.asIntN(n, this.bits(n));
  }
  int(lo, hi) {
    return lo + this.below(hi - lo);
  }
  chance() {
    return this.below(2) === 0;
  }
  bytes(n) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.below(256);
    return out;
  }
}

function text(rng) {
  switch (rng.below(4)) {
    case 0:
      return "";
    case 1: {
      let s = "";
      for (let n = rng.int(1, 12); n > 0; n--) s += "abcxyz"[rng.below(6)];
      return s;
    }
    case 2:
      return "héllo <wörld> ✓";
    default: {
      let s = "";
      for (let n = rng.int(1, 6); n > 0; n--) {
        const pick = rng.below(3);
        const cp =
          pick === 0 ? rng.int(0x20, 0x7f) : pick === 1 ? rng.int(0xa0, 0xd7ff) : rng.int(0x10000, 0x10ffff);
        s += String.fromCodePoint(cp);
      }
      // A byte-order mark first, now and then: TextDecoder must not eat it.
      return rng.below(4) === 0 ? "\ufeff" + s : s;
    }
  }
}

function finite(rng, bits) {
  const view = new DataView(new ArrayBuffer(8));
  for (;;) {
    if (bits === 32) {
      view.setUint32(0, Number(rng.bits(32)));
      const v = view.getFloat32(0);
      if (Number.isFinite(v)) return v;
    } else {
      view.setBigUint64(0, rng.bits(64));
      const v = view.getFloat64(0);
      if (Number.isFinite(v)) return v;
    }
  }
}

export function peer(proto) {
  const { Every, Inner, Nested, Profile } = proto;

  // The program's own field codec (`with = be16` on the Rust side).
  proto.OPAQUE.be16 = {
    write(w, value, field) {
      w.u16(value, false, field);
    },
    read(r, field) {
      return r.u16(false, field);
    },
  };

  const inner = (rng) => new Inner(rng.below(1 << 16), text(rng));
  const nested = (rng) =>
    rng.chance() ? new Nested.One(rng.below(256)) : new Nested.Two(rng.signed(64), inner(rng));
  const list = (n, make) => Array.from({ length: n }, make);

  function make(seed) {
    const rng = new Rng(seed);
    switch (seed % 13) {
      case 0:
        return new Every.Ints(
          rng.below(256), rng.int(-128, 128), rng.below(1 << 16), rng.int(-(1 << 15), 1 << 15),
          Number(rng.bits(32)), Number(rng.signed(32)), rng.bits(64), rng.signed(64),
          rng.bits(128), rng.signed(128),
        );
      case 1:
        return new Every.Floats(finite(rng, 32), finite(rng, 64), finite(rng, 32), Number(rng.bits(32)));
      case 2:
        return new Every.Texts(text(rng), text(rng), rng.bytes(rng.below(20)), rng.bytes(rng.below(20)), rng.chance());
      case 3:
        return new Every.Seqs(
          list(rng.below(4), () => inner(rng)),
          list(rng.below(6), () => rng.below(1 << 16)),
          rng.chance() ? inner(rng) : null,
          null,
          list(3, () => rng.int(-(1 << 15), 1 << 15)),
          rng.bytes(4),
          [rng.below(256), text(rng)],
          null,
        );
      case 4:
        return new Every.Nest(nested(rng), list(rng.below(3), () => nested(rng)));
      case 5:
        return new Every.Rest(Number(rng.bits(32)), text(rng));
      case 6:
        return new Every.RestBytes(rng.bytes(rng.below(20)));
      case 7:
        return new Every.Empty();
      case 8:
        return new Every.Skipped(Number(rng.bits(32)));
      case 9: {
        let name = "";
        for (let n = rng.below(8); n > 0; n--) name += "ab c"[rng.below(4)];
        const tags = list(rng.below(3), () => {
          let t = "";
          for (let n = rng.below(4); n > 0; n--) t += "xyz"[rng.below(3)];
          return t;
        });
        return new Every.Json(new Profile(name, Number(rng.bits(32)), tags));
      }
      case 10:
        return new Every.Hooked(rng.below(1 << 16), rng.below(256));
      case 11:
        // Left out, the hash is the module's own.
        return new Every.Hello(text(rng), rng.chance() ? rng.bits(64) : undefined);
      default:
        return new Every.Unknown(rng.int(13, 256), rng.bytes(rng.below(10)));
    }
  }

  // Values the protocol cannot carry: each must throw EncodeError, naming the field.
  const ok = () => new Every.Texts("a", "b", new Uint8Array(1), new Uint8Array(1), true);
  const seqs = (change) => {
    const m = new Every.Seqs([], [], null, null, [1, 2, 3], new Uint8Array(4), [1, "x"], null);
    change(m);
    return m;
  };
  const ints = (change) => {
    const m = new Every.Ints(1, 1, 1, 1, 1, 1, 1n, 1n, 1n, 1n);
    change(m);
    return m;
  };
  const texts = (change) => {
    const m = ok();
    change(m);
    return m;
  };
  const badValues = [
    ["Every.Ints.a", () => ints((m) => (m.a = 256))],
    ["Every.Ints.b", () => ints((m) => (m.b = 1.5))],
    ["Every.Ints.g", () => ints((m) => (m.g = 5))],
    ["Every.Ints.i", () => ints((m) => (m.i = -1n))],
    ["Every.Ints.j", () => ints((m) => (m.j = 1n << 127n))],
    ["Every.Texts.s", () => texts((m) => (m.s = "a\ud800b"))],
    ["Every.Texts.long", () => texts((m) => (m.long = "\udc00" + "é".repeat(70)))],
    ["Every.Texts.b", () => texts((m) => (m.b = [1, 2]))],
    ["Every.Texts.flag", () => texts((m) => (m.flag = 1))],
    ["Every.Texts.s", () => texts((m) => (m.s = 7))],
    ["Every.Seqs.arr", () => seqs((m) => (m.arr = [1, 2]))],
    ["Every.Seqs.items", () => seqs((m) => (m.items = "x"))],
    ["Every.Seqs.small", () => seqs((m) => (m.small = new Array(256).fill(1)))],
    ["Every.Seqs.four", () => seqs((m) => (m.four = new Uint8Array(3)))],
    ["Every.Floats.a", () => new Every.Floats("1", 1, 1, 1)],
    ["Every.Hello.version", () => new Every.Hello(5)],
    ["Every.Json.level", () => new Every.Json(new Profile("a", -1, []))],
    ["Every.Json.tags", () => new Every.Json(new Profile("a", 1, "x"))],
  ];

  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  function answer(line) {
    const space = line.indexOf(" ");
    const op = line.slice(0, space);
    const arg = line.slice(space + 1);
    try {
      if (op === "rt") {
        const data = unhex(arg);
        const message = Every.decode(data);
        const again = message.encode();
        // The variant decodes its own bytes alone, to the same message.
        const alone = message.constructor.decode(data);
        if (alone.constructor !== message.constructor || !same(alone.encode(), again)) {
          return "crash the variant's own decode differs: " + hex(alone.encode());
        }
        // The checking path (field by field, what a fast path hands on to) agrees.
        const checked = proto.decodeWhole(data, Every._read);
        if (checked.constructor !== message.constructor || !same(checked.encode(), again)) {
          return "crash the checking path's decode differs: " + hex(checked.encode());
        }
        return "ok " + hex(again);
      }
      if (op === "fl") {
        return "ok " + hex(Every.decode(unhex(arg)).encode());
      }
      if (op === "mk") {
        const message = make(Number(arg));
        const data = message.encode();
        const back = Every.decode(data);
        if (back.kind !== message.kind || !same(back.encode(), data)) {
          return "crash mismatch: " + message.kind + " came back as " + hex(back.encode());
        }
        return "ok " + hex(data);
      }
      if (op === "fr") {
        const message = new Every.Texts("", "x".repeat(Number(arg)), new Uint8Array(0), new Uint8Array(0), true);
        const body = message.encode();
        const framed = [
          proto.tcpMessageFrame(body),
          proto.tcpMessageFrame(body, proto.MAX_MESSAGE_SIZE, false),
          body.length < 65536 ? proto.panda3dFrame(body, 2) : null,
          proto.panda3dFrame(body, 4),
        ];
        const readers = [
          proto.streamReader(),
          proto.streamReader(),
          new proto.Panda3dReader(2),
          new proto.Panda3dReader(4),
        ];
        for (let k = 0; k < framed.length; k++) {
          if (framed[k] === null) continue;
          const got = [];
          for (let at = 0; at < framed[k].length; at += 7) got.push(...readers[k].feed(framed[k].subarray(at, at + 7)));
          if (got.length !== 1 || !same(got[0], body)) {
            return "crash framing " + k + " read back " + got.length + " messages";
          }
        }
        return "ok " + framed.map((f) => (f === null ? "-" : hex(f))).join(" ");
      }
      if (op === "cl") {
        const calls = [];
        const socket = {
          binaryType: "blob",
          sent: [],
          onmessage: null,
          send(data) {
            this.sent.push(data);
          },
          close(code) {
            calls.push("close " + code);
          },
        };
        const client = new proto.Client(socket, (m) => calls.push("message " + m.kind), {
          onError: (e) => calls.push(e instanceof proto.DecodeError ? "error" : "not a DecodeError"),
        });
        client.send(new Every.Empty());
        const data = unhex(arg);
        socket.onmessage({ data: data.buffer.slice(data.byteOffset, data.byteOffset + data.length) });
        socket.onmessage({ data: "text" });
        return "ok " + socket.binaryType + " " + socket.sent.map(hex).join(",") + " " + calls.join(",");
      }
      if (op === "be") {
        const [field, make] = badValues[Number(arg)];
        let bytes;
        try {
          bytes = make().encode();
        } catch (e) {
          if (!(e instanceof proto.EncodeError)) throw e;
          if (!e.message.startsWith(field.replace("Every.Json", "Profile") + ":") && !e.message.includes(field)) {
            return "crash the EncodeError does not name " + field + ": " + e.message;
          }
          return "err " + e.message;
        }
        return "crash encoded " + hex(bytes);
      }
      return "crash unknown request " + JSON.stringify(line);
    } catch (e) {
      if (e instanceof proto.DecodeError) return "err " + e.message;
      return "crash " + (e && e.name) + ": " + (e && e.message);
    }
  }
  return answer;
}
