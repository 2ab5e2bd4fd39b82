class DecodeError(Exception):
    """A message that does not decode: the message's id (``None`` when the id itself could
    not be read), the field (``"Type.field"``) and why."""

    def __init__(self, message_id, field, reason):
        where = "message" if message_id is None else "message 0x%x" % message_id
        super().__init__("%s, %s: %s" % (where, field, reason))
        self.message_id = message_id
        self.field = field
        self.reason = reason


class EncodeError(ValueError):
    """A value the protocol cannot carry: a number out of its type's range, a length over
    its prefix, a value of the wrong type."""


class _Reader:
    __slots__ = ("data", "pos", "message_id")

    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0
        self.message_id = None

    def fail(self, field, reason):
        raise DecodeError(self.message_id, field, reason)

    def take(self, n, field):
        pos = self.pos
        end = pos + n
        if end > len(self.data):
            self.fail(field, "%d bytes needed, %d left" % (n, len(self.data) - pos))
        self.pos = end
        return self.data[pos:end]

    def run(self, s, field):
        """A run of fixed-size numbers, read with one precompiled struct."""
        pos = self.pos
        if pos + s.size > len(self.data):
            self.fail(field, "%d bytes needed, %d left" % (s.size, len(self.data) - pos))
        self.pos = pos + s.size
        return s.unpack_from(self.data, pos)

    def uint(self, n, order, field):
        return int.from_bytes(self.take(n, field), order)

    def sint(self, n, order, field):
        return int.from_bytes(self.take(n, field), order, signed=True)

    def boolean(self, field):
        b = self.take(1, field)[0]
        if b > 1:
            self.fail(field, "invalid bool %d" % b)
        return b == 1

    def count(self, width, order, min_len, field):
        n = int.from_bytes(self.take(width, field), order)
        left = len(self.data) - self.pos
        if n * max(min_len, 1) > left:
            self.fail(field, "length %d is more than the %d bytes left can hold" % (n, left))
        return n

    def raw(self, width, order, field):
        return self.take(self.count(width, order, 1, field), field)

    def text(self, width, order, field):
        return self.utf8(self.raw(width, order, field), field)

    def utf8(self, raw, field):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.fail(field, "invalid UTF-8")

    def tag(self, field):
        t = self.take(1, field)[0]
        if t > 1:
            self.fail(field, "invalid option tag %d" % t)
        return t == 1

    def rest(self):
        data = self.data[self.pos:]
        self.pos = len(self.data)
        return data

    def left(self):
        return len(self.data) - self.pos

    def end(self):
        if self.pos != len(self.data):
            self.fail("message", "%d trailing bytes after the message" % (len(self.data) - self.pos))


class _Writer:
    __slots__ = ("out",)

    def __init__(self):
        self.out = bytearray()

    def uint(self, v, n, order, field):
        try:
            self.out += v.to_bytes(n, order)
        except (OverflowError, AttributeError, TypeError):
            raise EncodeError("%s: %r is not a u%d" % (field, v, n * 8)) from None

    def sint(self, v, n, order, field):
        try:
            self.out += v.to_bytes(n, order, signed=True)
        except (OverflowError, AttributeError, TypeError):
            raise EncodeError("%s: %r is not an i%d" % (field, v, n * 8)) from None

    def run(self, s, values, field):
        """Numbers packed by one struct; ``field`` names each (a tuple) or all (a str)."""
        try:
            self.out += s.pack(*values)
        except struct.error as e:
            if isinstance(field, tuple):
                # Which one: each packed alone.
                order, chars = s.format[0], s.format[1:]
                for char, value, name in zip(chars, values, field):
                    try:
                        struct.pack(order + char, value)
                    except struct.error as one:
                        raise EncodeError("%s: %r: %s" % (name, value, one)) from None
            raise EncodeError("%s: %s" % (field, e)) from None

    def boolean(self, v, field):
        if v is not True and v is not False:
            raise EncodeError("%s: %r is not a bool" % (field, v))
        self.out.append(1 if v else 0)

    def count(self, n, width, order, field):
        if n >= 1 << (8 * width):
            raise EncodeError("%s: length %d does not fit a %d-byte prefix" % (field, n, width))
        self.out += n.to_bytes(width, order)

    def raw(self, b, width, order, field):
        if not isinstance(b, (bytes, bytearray, memoryview)):
            raise EncodeError("%s: %r is not bytes" % (field, b))
        self.count(len(b), width, order, field)
        self.out += b

    def text(self, s, width, order, field):
        self.raw(_utf8(s, field), width, order, field)

    def utf8(self, s, field):
        """Text with no prefix (the rest of the message)."""
        self.out += _utf8(s, field)

    def items(self, v, width, order, field):
        """A vec's items: checked to be a list or tuple, its count written (``width`` 0:
        none, the rest of the message)."""
        if not isinstance(v, (list, tuple)):
            raise EncodeError("%s: %r is not a list" % (field, v))
        if width:
            self.count(len(v), width, order, field)
        return v


def _utf8(s, field):
    if not isinstance(s, str):
        raise EncodeError("%s: %r is not a str" % (field, s))
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        raise EncodeError("%s: %r is not well-formed (a lone surrogate)" % (field, s)) from None


class _Bad(Exception):
    """A fast path met something it does not take: the checking path then says what."""


def _bad():
    raise _Bad()


def _sized(b, prefix):
    """``b`` after its length, packed by ``prefix``."""
    return prefix.pack(len(b)) + b


def _exact(items, n):
    if len(items) != n:
        raise _Bad()
    return items


def _checked_unpack(read, d, p):
    """The checking path, where the fast one does not go (JSON bodies, opaque hooks)."""
    r = _Reader(d)
    r.pos = p
    value = read(r)
    return value, r.pos


class Message:
    """What every generated message class shares: ``encode()``, equality and a readable
    ``repr``."""

    __slots__ = ()
    _NAME = "Message"

    def encode(self):
        """The message's bytes (no framing)."""
        w = _Writer()
        try:
            self._write(w)
        except (AttributeError, TypeError) as e:
            raise EncodeError("a value of the wrong type: %s" % e) from None
        return bytes(w.out)

    def __eq__(self, other):
        return type(other) is type(self) and all(
            getattr(self, f) == getattr(other, f) for f in self.__slots__
        )

    def __repr__(self):
        return "%s(%s)" % (
            self._NAME,
            ", ".join("%s=%r" % (f, getattr(self, f)) for f in self.__slots__),
        )


def _decode_whole(read, data):
    r = _Reader(data)
    value = read(r)
    r.end()
    return value


def _rest_items(r, read):
    out = []
    while r.left():
        out.append(read())
    return out


#: Codecs of the types the protocol leaves to its user (hand-written ``Wire`` impls and
#: ``with`` codecs on the Rust side), by the name the protocol gives them: objects with
#: ``write(w, value, field)`` (append to ``w.out``) and ``read(r, field)`` (use ``r.take``).
OPAQUE = {}
