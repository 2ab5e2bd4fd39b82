"""A peer that follows the reference TcpMessage framing and its `<u16 LE id><JSON>` messages,
as ../shared/notes/wire-format.md describes them. Standard library only; the messages come
from the module generated from the Rust protocol (generated/reference.py).

Framing: a message is cut into chunks of MAX bytes; each chunk after a little-endian u16 that
holds its length, or 0 when the chunk is exactly MAX long; all chunks of a message go out with
one sendall; an empty message is refused. The reader hands on each chunk by itself (it never
reassembles); this peer joins chunks until the JSON body parses, as a program on top of the
reference reader does.

Commands (results on stdout, one line each):
  client HOST PORT MAX SIZE...   for each SIZE send a Register message of exactly SIZE bytes,
                                 expect a Registered reply with the same fields; `ok SIZE`
  server PORT MAX                answer each Register with Registered (same fields); prints
                                 `listening on PORT`; runs until killed
  notary PORT MAX                as `server`, for requests among other messages, answering
                                 in order: each Register gets a Notice {"n"} first, then its
                                 Registered; each Note {"n"} gets a Notice {"n"}; prints
                                 `answered N` per message when the client has closed

TLS (Python's ssl module), before the command:
  --tls-ca FILE        client: trust this CA; server: require client certificates it signed
  --tls-cert FILE --tls-key FILE
                       server: its certificate; client: a client certificate (mutual TLS)
  --tls-name NAME      client: the name the server's certificate must carry
A TLS server prints `peer NAME` (the client certificate's first DNS name, or `-`) per client.
"""
import os
import socket
import ssl
import struct
import sys

# The messages: generated from the Rust protocol (tests/interop_python.rs keeps it current),
# never re-typed here. The framing below is the reference system's own, by hand on purpose.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))
import reference  # noqa: E402

Internal = reference.Internal
TLS = {}


def write_message(sock, message, max_size):
    if not message:
        raise ValueError("empty message")
    out = bytearray()
    for i in range(0, len(message), max_size):
        chunk = message[i:i + max_size]
        out += struct.pack("<H", 0 if len(chunk) == max_size else len(chunk))
        out += chunk
    sock.sendall(bytes(out))


def read_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise EOFError("connection closed")
        data += part
    return bytes(data)


def read_chunk(sock, max_size):
    (length,) = struct.unpack("<H", read_exact(sock, 2))
    if length > max_size:
        raise ValueError("chunk length %d above max_message_size %d" % (length, max_size))
    return read_exact(sock, max_size if length == 0 else length)


def read_message(sock, max_size):
    """Joins chunks until they decode as one message (the reference reader hands on chunks;
    a program on top of it joins them)."""
    data = b""
    while True:
        data += read_chunk(sock, max_size)
        try:
            return Internal.decode(data), len(data)
        except reference.DecodeError:
            continue


def register_of_size(size, n):
    """A Register message of exactly `size` bytes (size >= 40)."""
    base = len(Internal.Register("peer", "", n).encode())
    if size < base:
        raise ValueError("size %d below the smallest Register (%d)" % (size, base))
    msg = Internal.Register("peer", "x" * (size - base), n)
    message = msg.encode()
    assert len(message) == size
    return msg, message


def client(host, port, max_size, sizes):
    sock = socket.create_connection((host, port), timeout=30)
    if TLS:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=TLS["ca"])
        if "cert" in TLS:
            ctx.load_cert_chain(TLS["cert"], TLS["key"])
        sock = ctx.wrap_socket(sock, server_hostname=TLS.get("name", host))
    for i, size in enumerate(sizes):
        msg, message = register_of_size(size, i)
        write_message(sock, message, max_size)
        reply, _ = read_message(sock, max_size)
        expected = Internal.Registered(msg.name, msg.payload, msg.n)
        if reply != expected:
            sys.exit(("reply to a %d-byte Register: %r" % (size, reply))[:300])
        print("ok %d" % size, flush=True)


def server(port, max_size):
    listener = socket.create_server(("127.0.0.1", port))
    print("listening on %d" % port, flush=True)
    conn, _ = listener.accept()
    conn.settimeout(30)
    if TLS:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(TLS["cert"], TLS["key"])
        if "ca" in TLS:
            ctx.load_verify_locations(cafile=TLS["ca"])
            ctx.verify_mode = ssl.CERT_REQUIRED
        conn = ctx.wrap_socket(conn, server_side=True)
        cert = conn.getpeercert() or {}
        names = [v for (k, v) in cert.get("subjectAltName", ()) if k == "DNS"]
        print("peer %s" % (names[0] if names else "-"), flush=True)
    while True:
        try:
            msg, size = read_message(conn, max_size)
        except EOFError:
            return
        if type(msg) is not Internal.Register:
            sys.exit("unexpected message %r" % (msg,))
        write_message(conn, Internal.Registered(msg.name, msg.payload, msg.n).encode(), max_size)
        print("answered %d" % size, flush=True)


def notary(port, max_size):
    listener = socket.create_server(("127.0.0.1", port))
    print("listening on %d" % port, flush=True)
    conn, _ = listener.accept()
    conn.settimeout(30)
    answered = 0
    while True:
        try:
            msg, _ = read_message(conn, max_size)
        except EOFError:
            print("answered %d" % answered, flush=True)
            return
        if type(msg) is Internal.Register:
            write_message(conn, Internal.Notice(msg.n).encode(), max_size)
            write_message(conn, Internal.Registered(msg.name, msg.payload, msg.n).encode(), max_size)
        elif type(msg) is Internal.Note:
            write_message(conn, Internal.Notice(msg.n).encode(), max_size)
        else:
            sys.exit("unexpected message %r" % (msg,))
        answered += 1


def main(argv):
    while argv and argv[0].startswith("--tls-"):
        TLS[argv[0][len("--tls-"):]] = argv[1]
        argv = argv[2:]
    if argv[0] == "client":
        client(argv[1], int(argv[2]), int(argv[3]), [int(s) for s in argv[4:]])
    elif argv[0] == "server":
        server(int(argv[1]), int(argv[2]))
    elif argv[0] == "notary":
        notary(int(argv[1]), int(argv[2]))
    else:
        sys.exit("unknown command %r" % argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])
