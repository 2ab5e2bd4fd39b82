"""The generated Python codec against hand-written `struct` code, on the codec bench's
small, chat and batch shapes (run by `cargo bench --bench all python`).

    python_codec.py MODULE SECONDS

MODULE is the module generated for the bench's `PyShapes`. Prints one line per comparison:
`NAME<TAB>GENERATED msg/s<TAB>HAND-WRITTEN msg/s` (the median of 5 interleaved rounds).
The hand-written side is what a careful programmer writes with `struct` alone: precompiled
structs, the lengths checked, a message object with `__slots__` out of each decode; its
decoders know the message's type, and a receiver of its own reads the id first and calls
the decoder of that id (the "as received" lines).
"""
import functools
import importlib.util
import struct
import sys
import time

spec = importlib.util.spec_from_file_location("shapes", sys.argv[1])
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)
BUDGET = float(sys.argv[2])


# ---- By hand ------------------------------------------------------------------------

class Pos:
    __slots__ = ("id", "x", "y", "z")

    def __init__(self, id, x, y, z):
        self.id = id
        self.x = x
        self.y = y
        self.z = z


class Say:
    __slots__ = ("sender", "text")

    def __init__(self, sender, text):
        self.sender = sender
        self.text = text


class Position:
    __slots__ = ("id", "x", "y", "z", "flags")

    def __init__(self, id, x, y, z, flags):
        self.id = id
        self.x = x
        self.y = y
        self.z = z
        self.flags = flags


class Positions:
    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items


_POS = struct.Struct("<HIiii")
_ID_LEN = struct.Struct("<HH")
_LEN = struct.Struct("<H")
_ITEM = struct.Struct("<IfffH")


def hand_encode_pos(m):
    return _POS.pack(1, m.id, m.x, m.y, m.z)


def hand_decode_pos(data):
    if len(data) != _POS.size:
        raise ValueError("not a Pos")
    mid, id, x, y, z = _POS.unpack(data)
    if mid != 1:
        raise ValueError("not a Pos")
    return Pos(id, x, y, z)


def hand_encode_say(m):
    sender = m.sender.encode()
    text = m.text.encode()
    return b"".join((_ID_LEN.pack(2, len(sender)), sender, _LEN.pack(len(text)), text))


def hand_decode_say(data):
    if len(data) < 4:
        raise ValueError("short")
    mid, n = _ID_LEN.unpack_from(data, 0)
    if mid != 2 or len(data) < 6 + n:
        raise ValueError("not a Say")
    sender = data[4:4 + n].decode()
    (m,) = _LEN.unpack_from(data, 4 + n)
    start = 6 + n
    if len(data) != start + m:
        raise ValueError("not a Say")
    return Say(sender, data[start:].decode())


def hand_encode_batch(m):
    out = bytearray(_ID_LEN.pack(4, len(m.items)))
    pack = _ITEM.pack
    for p in m.items:
        out += pack(p.id, p.x, p.y, p.z, p.flags)
    return bytes(out)


def hand_decode_batch(data):
    if len(data) < 4:
        raise ValueError("short")
    mid, n = _ID_LEN.unpack_from(data, 0)
    if mid != 4 or len(data) != 4 + n * _ITEM.size:
        raise ValueError("not Positions")
    return Positions([Position(*t) for t in _ITEM.iter_unpack(memoryview(data)[4:])])


# A hand-written receiver: the id read, then the message's decoder.
_HAND_BY_ID = {1: hand_decode_pos, 2: hand_decode_say, 4: hand_decode_batch}


def hand_receive(data):
    (mid,) = _LEN.unpack_from(data, 0)
    return _HAND_BY_ID[mid](data)


# ---- The values -----------------------------------------------------------------------

def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


small = (gen.PyShapes.Pos(7, -3, 1000000, 42), Pos(7, -3, 1000000, 42))
chat = (
    gen.PyShapes.Say("player42", "gg, see you next round!!!"),
    Say("player42", "gg, see you next round!!!"),
)
items = [(i, f32(i * 0.5), f32(-float(i)), 1.25, i % 7) for i in range(64)]
batch = (
    gen.PyShapes.Positions([gen.Position(*t) for t in items]),
    Positions([Position(*t) for t in items]),
)
hand = {
    "small": (hand_encode_pos, hand_decode_pos),
    "chat": (hand_encode_say, hand_decode_say),
    "batch": (hand_encode_batch, hand_decode_batch),
}
sizes = {"small": "18 B", "chat": "~40 B", "batch": "64 positions, 1156 B"}


def rate(f, seconds):
    """Calls of `f` per second, for about `seconds`."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            f()
        took = time.perf_counter() - start
        if took >= seconds:
            return n / took
        n *= 2 if took < seconds / 8 else max(2, int(seconds / max(took, 1e-9)))


def compare(name, ours, theirs):
    rounds = []
    for _ in range(5):
        rounds.append((rate(ours, BUDGET / 10), rate(theirs, BUDGET / 10)))
    rounds.sort(key=lambda r: r[0] / r[1])
    o, t = rounds[len(rounds) // 2]
    print("%s\t%.1f\t%.1f" % (name, o, t), flush=True)


for shape, (g, h) in (("small", small), ("chat", chat), ("batch", batch)):
    enc, dec = hand[shape]
    wire = g.encode()
    assert wire == enc(h), shape
    back = gen.PyShapes.decode(wire)
    assert back == g, shape
    dec(wire)
    label = "%s (%s)" % (shape, sizes[shape])
    # Each side one Python call deep from the timing loop.
    compare("encode " + label, g.encode, functools.partial(enc, h))
    # A decoder that knows the message's type: the variant's own `decode` against the
    # hand-written decoder of that message; then a receiver, which reads the id and
    # dispatches: the enum's `decode` against a hand-written receiver.
    compare(
        "decode " + label,
        functools.partial(type(g).decode, wire),
        functools.partial(dec, wire),
    )
    compare(
        "decode " + label + " as received (by its id)",
        functools.partial(gen.PyShapes.decode, wire),
        functools.partial(hand_receive, wire),
    )
