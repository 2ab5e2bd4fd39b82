"""The Python side of the conformance harness (tests/conformance.rs): loads the generated
module given as its argument and answers one line per request on stdin:

    rt HEX   -> "ok HEX" (decoded and encoded again) | "err MESSAGE" (DecodeError)
    mk SEED  -> "ok HEX" (a value made here, from SEED, encoded)

Anything else the module raises is reported as "crash TYPE: MESSAGE", which the harness
fails on.
"""

import importlib.util
import random
import sys

spec = importlib.util.spec_from_file_location("conformance", sys.argv[1])
proto = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proto)
Every = proto.Every


class Be16:
    """The program's own field codec (`with = be16` on the Rust side)."""

    def write(self, w, value, field):
        w.uint(value, 2, "big", field)

    def read(self, r, field):
        return r.uint(2, "big", field)


proto.OPAQUE["be16"] = Be16()


def text(rng):
    pick = rng.randrange(4)
    if pick == 0:
        return ""
    if pick == 1:
        return "".join(rng.choice("abcxyz") for _ in range(rng.randrange(1, 12)))
    if pick == 2:
        return "héllo <wörld> ✓"
    return "".join(chr(rng.choice([rng.randrange(0x20, 0x7f), rng.randrange(0xa0, 0xd7ff), rng.randrange(0x10000, 0x10ffff)])) for _ in range(rng.randrange(1, 6)))


def inner(rng):
    return proto.Inner(rng.randrange(1 << 16), text(rng))


def nested(rng):
    if rng.random() < 0.5:
        return proto.Nested.One(rng.randrange(256))
    return proto.Nested.Two(rng.randrange(-(1 << 63), 1 << 63), inner(rng))


def f32(rng):
    import struct

    while True:
        v = struct.unpack("<f", rng.getrandbits(32).to_bytes(4, "little"))[0]
        if v == v and abs(v) != float("inf"):
            return v


def f64(rng):
    import struct

    while True:
        v = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if v == v and abs(v) != float("inf"):
            return v


def make(seed):
    rng = random.Random(seed)
    kind = seed % 13
    if kind == 0:
        return Every.Ints(
            rng.randrange(256), rng.randrange(-128, 128), rng.randrange(1 << 16),
            rng.randrange(-(1 << 15), 1 << 15), rng.randrange(1 << 32),
            rng.randrange(-(1 << 31), 1 << 31), rng.randrange(1 << 64),
            rng.randrange(-(1 << 63), 1 << 63), rng.randrange(1 << 128),
            rng.randrange(-(1 << 127), 1 << 127),
        )
    if kind == 1:
        return Every.Floats(f32(rng), f64(rng), f32(rng), rng.randrange(1 << 32))
    if kind == 2:
        return Every.Texts(
            text(rng), text(rng), bytes(rng.randrange(256) for _ in range(rng.randrange(20))),
            bytes(rng.randrange(256) for _ in range(rng.randrange(20))), rng.random() < 0.5,
        )
    if kind == 3:
        return Every.Seqs(
            [inner(rng) for _ in range(rng.randrange(4))],
            [rng.randrange(1 << 16) for _ in range(rng.randrange(6))],
            inner(rng) if rng.random() < 0.5 else None,
            None,
            [rng.randrange(-(1 << 15), 1 << 15) for _ in range(3)],
            bytes(rng.randrange(256) for _ in range(4)),
            (rng.randrange(256), text(rng)),
            None,
        )
    if kind == 4:
        return Every.Nest(nested(rng), [nested(rng) for _ in range(rng.randrange(3))])
    if kind == 5:
        return Every.Rest(rng.randrange(1 << 32), text(rng))
    if kind == 6:
        return Every.RestBytes(bytes(rng.randrange(256) for _ in range(rng.randrange(20))))
    if kind == 7:
        return Every.Empty()
    if kind == 8:
        return Every.Skipped(rng.randrange(1 << 32))
    if kind == 9:
        return Every.Json(proto.Profile(
            "".join(rng.choice("ab c") for _ in range(rng.randrange(8))),
            rng.randrange(1 << 32),
            ["".join(rng.choice("xyz") for _ in range(rng.randrange(4))) for _ in range(rng.randrange(3))],
        ))
    if kind == 10:
        return Every.Hooked(rng.randrange(1 << 16), rng.randrange(256))
    if kind == 11:
        # Left out, the hash is the module's own.
        return Every.Hello(text(rng), rng.randrange(1 << 64) if rng.random() < 0.5 else None)
    return Every.Unknown(rng.randrange(13, 256), bytes(rng.randrange(256) for _ in range(rng.randrange(10))))


def answer(line):
    op, _, arg = line.partition(" ")
    try:
        if op == "rt":
            msg = Every.decode(bytes.fromhex(arg))
            return "ok " + msg.encode().hex()
        if op == "mk":
            msg = make(int(arg))
            back = Every.decode(msg.encode())
            if back != msg:
                return "crash mismatch: %r came back as %r" % (msg, back)
            return "ok " + msg.encode().hex()
        return "crash unknown request %r" % line
    except proto.DecodeError as e:
        return "err " + str(e)
    except Exception as e:  # the harness fails on these
        return "crash %s: %s" % (type(e).__name__, e)


for line in sys.stdin:
    print(answer(line.rstrip("\n")), flush=True)
