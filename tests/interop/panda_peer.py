"""Panda3D peers for connhandler's interop tests (panda3d.core's queued networking, headless).

Commands (results go to stdout, one line each, flushed):
  client_echo HOST PORT HEADER SIZE...   send pattern datagrams, check each echo; `ok SIZE`
  fields HOST PORT                       send a datagram built field by field, read the reply
                                         field by field; print the fields as JSON
  server PORT HEADER                     openTCPServerRendezvous; echo every datagram; runs
                                         until killed; prints `listening on PORT`
  broadcast_client HOST PORT             connect, print `connected`, print the hex of the
                                         first datagram received
  generated MODULE HOST PORT             as `fields`, with the message made by the module
                                         generated from the Rust protocol, sent as a
                                         Datagram through ConnectionWriter unchanged
"""
import json
import sys
import time

from panda3d.core import (
    ConnectionWriter,
    Datagram,
    DatagramIterator,
    NetAddress,
    NetDatagram,
    PointerToConnection,
    QueuedConnectionListener,
    QueuedConnectionManager,
    QueuedConnectionReader,
)

TIMEOUT = 30.0


def pattern(n, seed):
    return bytes(((i * 31) + seed) & 0xFF for i in range(n))


def setup(header):
    manager = QueuedConnectionManager()
    listener = QueuedConnectionListener(manager, 0)
    reader = QueuedConnectionReader(manager, 0)
    writer = ConnectionWriter(manager, 0)
    reader.setTcpHeaderSize(header)
    writer.setTcpHeaderSize(header)
    return manager, listener, reader, writer


def connect(manager, reader, host, port):
    conn = manager.openTCPClientConnection(host, port, 5000)
    if conn is None:
        sys.exit("panda3d: cannot connect to %s:%d" % (host, port))
    reader.addConnection(conn)
    return conn


def receive(reader):
    """Polls the reader as a game loop does, once per 'frame'."""
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        if reader.dataAvailable():
            datagram = NetDatagram()
            if reader.getData(datagram):
                return datagram
        time.sleep(0.0005)
    sys.exit("panda3d: no datagram within %s s" % TIMEOUT)


def out(line):
    print(line, flush=True)


def client_echo(host, port, header, sizes):
    manager, _, reader, writer = setup(header)
    conn = connect(manager, reader, host, port)
    for n in sizes:
        payload = pattern(n, n & 0xFF)
        dg = Datagram()
        dg.appendData(payload)
        if not writer.send(dg, conn):
            sys.exit("panda3d: send of %d bytes failed" % n)
        got = bytes(receive(reader).getMessage())
        if got != payload:
            sys.exit("panda3d: echo of %d bytes differs (got %d bytes)" % (n, len(got)))
        out("ok %d" % n)


def fields(host, port):
    manager, _, reader, writer = setup(2)
    conn = connect(manager, reader, host, port)
    dg = Datagram()
    dg.addUint16(0x2001)
    dg.addString("bob")
    dg.addInt32(-5)
    dg.addBool(True)
    dg.addFloat64(2.5)
    dg.addUint8(9)
    dg.addInt16(-2)
    dg.addFloat32(0.25)
    dg.addUint64(1234567890123)
    dg.addString32("long string")
    dg.addBlob(b"\x00\x01\x02")
    writer.send(dg, conn)
    # The iterator points into the datagram: keep the datagram referenced while reading.
    reply_datagram = receive(reader)
    it = DatagramIterator(reply_datagram)
    reply = {
        "id": it.getUint16(),
        "name": it.getString(),
        "hp": it.getInt32(),
        "alive": it.getBool(),
        "x": it.getFloat64(),
        "level": it.getUint8(),
        "dir": it.getInt16(),
        "speed": it.getFloat32(),
        "serial": it.getUint64(),
        "long": it.getString32(),
        "blob": it.getBlob().hex(),
        "left": it.getRemainingSize(),
    }
    out(json.dumps(reply))


def generated(module_path, host, port):
    import importlib.util

    spec = importlib.util.spec_from_file_location("panda_game", module_path)
    proto = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(proto)
    manager, _, reader, writer = setup(2)
    conn = connect(manager, reader, host, port)
    msg = proto.GameState.State(
        "bob", -5, True, 2.5, 9, -2, 0.25, 1234567890123, "long string", b"\x00\x01\x02"
    )
    writer.send(proto.to_datagram(msg), conn)
    reply = proto.from_datagram(receive(reader), proto.RECV)
    out(json.dumps({
        "type": type(reply).__name__,
        "name": reply.name,
        "hp": reply.hp,
        "alive": reply.alive,
        "x": reply.x,
        "level": reply.level,
        "dir": reply.dir,
        "speed": reply.speed,
        "serial": reply.serial,
        "long": reply.long,
        "blob": reply.blob.hex(),
    }))


def server(port, header):
    manager, listener, reader, writer = setup(header)
    rendezvous = manager.openTCPServerRendezvous(port, 100)
    if rendezvous is None:
        sys.exit("panda3d: cannot listen on port %d" % port)
    listener.addConnection(rendezvous)
    out("listening on %d" % port)
    while True:
        if listener.newConnectionAvailable():
            rv, addr, new = PointerToConnection(), NetAddress(), PointerToConnection()
            if listener.getNewConnection(rv, addr, new):
                reader.addConnection(new.p())
        while reader.dataAvailable():
            datagram = NetDatagram()
            if reader.getData(datagram):
                reply = Datagram()
                reply.appendData(bytes(datagram.getMessage()))
                writer.send(reply, datagram.getConnection())
        time.sleep(0.0005)


def broadcast_client(host, port):
    manager, _, reader, _ = setup(2)
    connect(manager, reader, host, port)
    out("connected")
    out(bytes(receive(reader).getMessage()).hex())


def main(argv):
    cmd = argv[0]
    if cmd == "client_echo":
        client_echo(argv[1], int(argv[2]), int(argv[3]), [int(n) for n in argv[4:]])
    elif cmd == "fields":
        fields(argv[1], int(argv[2]))
    elif cmd == "server":
        server(int(argv[1]), int(argv[2]))
    elif cmd == "generated":
        generated(argv[1], argv[2], int(argv[3]))
    elif cmd == "broadcast_client":
        broadcast_client(argv[1], int(argv[2]))
    else:
        sys.exit("unknown command %r" % cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
