"""The Python side of the conformance harness (tests/conformance.rs): loads the generated
module given as its argument and answers one line per request on stdin:

    rt HEX   -> "ok HEX" (decoded and encoded again) | "err MESSAGE" (DecodeError)
    fl HEX   -> the same as rt, for float specials (no equality checks: NaN is not NaN)
    mk SEED  -> "ok HEX" (a value made here, from SEED, encoded)
    be N     -> "err MESSAGE" (EncodeError) for the Nth value the protocol cannot carry

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


# Each fast path's fall-back to the checking one, by class (the fast `encode` calls
# `Message.encode` when it cannot go on).
FALLBACKS = []
_checked_encode = proto.Message.encode


def _counting_encode(self):
    if "encode" in type(self).__dict__:
        FALLBACKS.append(type(self).__name__)
    return _checked_encode(self)


proto.Message.encode = _counting_encode

# Each call of the checking decoder of whole messages.
CHECKED = []
_checked_whole = proto._decode_whole


def _counting_whole(read, data):
    CHECKED.append(read)
    return _checked_whole(read, data)


proto._decode_whole = _counting_whole
# The variants that only the checking path reads: a JSON body, an opaque hook, the
# catch-all.
CHECKING_ONLY = {"Every_Json", "Every_Hooked", "Every_Unknown"}


def both_paths(msg, data):
    """The fast paths and the checking ones agree on a valid message, and the fast ones
    took it (no fall-back): None, or what went wrong."""
    del FALLBACKS[:]
    fast = msg.encode()
    if FALLBACKS:
        return "the fast encode of %r fell back" % (msg,)
    if fast != _checked_encode(msg) or fast != data:
        return "the fast and checking encodes of %r differ" % (msg,)
    try:
        value, end = Every._unpack(data, 0)
    except Exception as e:
        return "the fast decode refused %s: %s: %s" % (data.hex(), type(e).__name__, e)
    checked = _checked_whole(Every._read, data)
    # Whole messages straight from the bytes: through the enum's dispatch, and through the
    # variant's own decode; neither falls back to the checking path but for the classes
    # that have none of their own.
    del CHECKED[:]
    whole = Every.decode(data)
    alone = type(msg).decode(data)
    if CHECKED and type(msg).__name__ not in CHECKING_ONLY:
        return "the fast decode of %r fell back" % (msg,)
    if whole != checked or alone != checked:
        return "the fast whole decodes of %s differ: %r, %r, %r" % (data.hex(), whole, alone, checked)
    if end != len(data) or value != checked or value != msg:
        return "the fast and checking decodes of %s differ: %r, %r" % (data.hex(), value, checked)
    return None


def _changed(msg, **fields):
    for k, v in fields.items():
        setattr(msg, k, v)
    return msg


def _ints(**f):
    return _changed(Every.Ints(1, 1, 1, 1, 1, 1, 1, 1, 1, 1), **f)


def _texts(**f):
    return _changed(Every.Texts("a", "b", b"x", b"y", True), **f)


def _seqs(**f):
    return _changed(Every.Seqs([], [], None, None, [1, 2, 3], b"abcd", (1, "x"), None), **f)


# Values the protocol cannot carry: each must raise EncodeError, naming the field (the same
# list as conformance_peer.mjs's, in Python's terms).
BAD_VALUES = [
    ("Every.Ints.a", lambda: _ints(a=256)),
    ("Every.Ints.b", lambda: _ints(b=1.5)),
    ("Every.Ints.g", lambda: _ints(g="5")),
    ("Every.Ints.i", lambda: _ints(i=-1)),
    ("Every.Ints.j", lambda: _ints(j=1 << 127)),
    ("Every.Texts.s", lambda: _texts(s="a\ud800b")),
    ("Every.Texts.long", lambda: _texts(long="\udc00" + "é" * 70)),
    ("Every.Texts.b", lambda: _texts(b=[1, 2])),
    ("Every.Texts.flag", lambda: _texts(flag=1)),
    ("Every.Texts.s", lambda: _texts(s=7)),
    ("Every.Seqs.arr", lambda: _seqs(arr=[1, 2])),
    ("Every.Seqs.items", lambda: _seqs(items="x")),
    ("Every.Seqs.small", lambda: _seqs(small=[1] * 256)),
    ("Every.Seqs.four", lambda: _seqs(four=b"abc")),
    ("Every.Floats.a", lambda: Every.Floats("1", 1.0, 1.0, 1)),
    ("Every.Hello.version", lambda: Every.Hello(5)),
    ("Every.Json.level", lambda: Every.Json(proto.Profile("a", -1, []))),
    ("Every.Json.tags", lambda: Every.Json(proto.Profile("a", 1, "x"))),
]


def answer(line):
    op, _, arg = line.partition(" ")
    try:
        if op == "rt":
            data = bytes.fromhex(arg)
            msg = Every.decode(data)
            wrong = both_paths(msg, data)
            if wrong:
                return "crash " + wrong
            return "ok " + msg.encode().hex()
        if op == "fl":
            return "ok " + Every.decode(bytes.fromhex(arg)).encode().hex()
        if op == "mk":
            msg = make(int(arg))
            data = msg.encode()
            back = Every.decode(data)
            if back != msg:
                return "crash mismatch: %r came back as %r" % (msg, back)
            wrong = both_paths(msg, data)
            if wrong:
                return "crash " + wrong
            return "ok " + data.hex()
        if op == "be":
            field, bad = BAD_VALUES[int(arg)]
            try:
                data = bad().encode()
            except proto.EncodeError as e:
                if field not in str(e) and field.replace("Every.Json", "Profile") not in str(e):
                    return "crash the EncodeError does not name %s: %s" % (field, e)
                return "err " + str(e)
            return "crash encoded " + data.hex()
        return "crash unknown request %r" % line
    except proto.DecodeError as e:
        return "err " + str(e)
    except Exception as e:  # the harness fails on these
        return "crash %s: %s" % (type(e).__name__, e)


for line in sys.stdin:
    print(answer(line.rstrip("\n")), flush=True)
