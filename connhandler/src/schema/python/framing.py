class FramingError(Exception):
    """Bytes that break the framing's rules."""


def tcp_message_frame(body, max_message_size=MAX_MESSAGE_SIZE, explicit_final_chunk=EXPLICIT_FINAL_CHUNK):
    """The TcpMessage framing of one message: chunks of ``max_message_size`` bytes, each after
    a little-endian u16 of its length, 0 for a full chunk (a final full chunk says its length
    when ``explicit_final_chunk``, as connhandler writes it; 0 as the reference writes it)."""
    if not body:
        raise EncodeError("an empty message cannot be framed")
    out = bytearray()
    n = len(body)
    for start in range(0, n, max_message_size):
        chunk = body[start:start + max_message_size]
        full = len(chunk) == max_message_size
        last = start + max_message_size >= n
        header = 0 if full and not (last and explicit_final_chunk) else len(chunk)
        out += header.to_bytes(2, "little")
        out += chunk
    return bytes(out)


class TcpMessageReader:
    """Reassembles TcpMessage messages from bytes as they arrive: ``feed(data)`` returns the
    messages completed. A message that ends on a full chunk marked 0 (the reference writer's
    exact multiples) ends where its bytes decode as a whole message (``whole``), or at
    ``flush()`` (when no more bytes come for a while) if its bytes can be a message at all
    (``could_end``): a message still arriving slowly is never cut by a pause."""

    def __init__(self, max_message_size=MAX_MESSAGE_SIZE, max_frame_length=8 << 20, whole=None,
                 could_end=None):
        self.max = max_message_size
        self.max_frame = max_frame_length
        self.whole = whole
        self.could_end = could_end
        self.buf = bytearray()
        self.message = bytearray()
        self.open = False

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            if len(self.buf) < 2:
                return out
            header = int.from_bytes(self.buf[:2], "little")
            if header > self.max:
                raise FramingError("chunk length %d exceeds max_message_size %d" % (header, self.max))
            size = self.max if header == 0 else header
            if len(self.buf) < 2 + size:
                return out
            chunk = bytes(self.buf[2:2 + size])
            del self.buf[:2 + size]
            self.message += chunk
            if len(self.message) > self.max_frame:
                raise FramingError("message longer than %d bytes" % self.max_frame)
            if header == 0 and not (self.whole is not None and self.whole(bytes(self.message))):
                self.open = True
                continue
            out.append(bytes(self.message))
            self.message = bytearray()
            self.open = False

    def flush(self):
        """Ends a message left open on a full chunk marked 0 (after a pause), if its bytes
        can be a message."""
        if self.open and self.message and (
            self.could_end is None or self.could_end(bytes(self.message))
        ):
            done = bytes(self.message)
            self.message = bytearray()
            self.open = False
            return [done]
        return []


def panda3d_frame(body, header_size=PANDA3D_HEADER_SIZE):
    """Panda3D's framing of one datagram: a little-endian length of ``header_size`` bytes (0:
    none), then the bytes."""
    if header_size == 0:
        return bytes(body)
    if len(body) >= 1 << (8 * header_size):
        raise EncodeError("a datagram of %d bytes does not fit a %d-byte header" % (len(body), header_size))
    return len(body).to_bytes(header_size, "little") + bytes(body)


class Panda3dReader:
    """Cuts Panda3D datagrams from bytes as they arrive: ``feed(data)`` returns the datagrams
    completed."""

    def __init__(self, header_size=PANDA3D_HEADER_SIZE, max_frame_length=8 << 20):
        if header_size not in (2, 4):
            raise ValueError("a stream reader needs a 2- or 4-byte header")
        self.size = header_size
        self.max_frame = max_frame_length
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= self.size:
            n = int.from_bytes(self.buf[:self.size], "little")
            if n > self.max_frame:
                raise FramingError("datagram of %d bytes exceeds %d" % (n, self.max_frame))
            if len(self.buf) < self.size + n:
                break
            out.append(bytes(self.buf[self.size:self.size + n]))
            del self.buf[:self.size + n]
        return out


def to_datagram(msg):
    """The message as a Panda3D ``Datagram``, for a ``ConnectionWriter`` (panda3d.core)."""
    from panda3d.core import Datagram

    return Datagram(msg.encode())


def from_datagram(datagram, message_type):
    """Decodes a Panda3D ``Datagram`` (or ``NetDatagram``) as ``message_type``."""
    return message_type.decode(bytes(datagram.getMessage()))


class Connection:
    """An asyncio connection that speaks this protocol's framing: ``send(msg)`` and
    ``await receive()`` (the next message, as ``RECV``'s type; ``None`` at the end of the
    stream). Open one with ``await Connection.open(host, port)`` (``ssl=`` as for
    ``asyncio.open_connection``) or wrap a stream pair."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.cut = _new_reader()
        self.ready = []

    @classmethod
    async def open(cls, host, port, **kwargs):
        reader, writer = await asyncio.open_connection(host, port, **kwargs)
        return cls(reader, writer)

    def send(self, msg):
        """Queues ``msg`` (a message of ``SEND``'s type, the server's view: what we receive
        from it we decode as ``RECV``); ``await drain()`` to wait for the socket."""
        self.writer.write(_frame(msg.encode()))

    async def drain(self):
        await self.writer.drain()

    async def receive(self, pause=0.1):
        while not self.ready:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), pause)
            except asyncio.TimeoutError:
                self.ready += _flush(self.cut)
                continue
            if not data:
                self.ready += _flush(self.cut)
                if not self.ready:
                    return None
                break
            self.ready += self.cut.feed(data)
        return RECV.decode(self.ready.pop(0))

    async def close(self):
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass
