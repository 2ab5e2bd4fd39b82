"""A client written on the generated module alone (its asyncio Connection and its
TcpMessage framing): says its hello (version 1.0.0 and a messages hash), reads the server's,
then sends each message of the sizes given, as connhandler writes them and as the reference
writer does (exact multiples with a 0 chunk), and checks each echo.

    generated_client.py MODULE HOST PORT HASH SIZE...

HASH is `ours` (the hello leaves its hash out: the module's own) or 16 hex digits. Prints
`hello HASH` with the hash the server's hello says, `ok SIZE` per echo, and `closed` when
the server closes the connection instead of answering.
"""
import asyncio
import importlib.util
import sys

spec = importlib.util.spec_from_file_location("proto", sys.argv[1])
proto = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proto)


async def main(host, port, said, sizes):
    conn = await proto.Connection.open(host, port)
    conn.send(proto.SEND.Hello("1.0.0", None if said == "ours" else int(said, 16)))
    await conn.drain()
    hello = await asyncio.wait_for(conn.receive(), 30)
    if not isinstance(hello, proto.RECV.Hello):
        sys.exit("the server's first message is not its hello: %r" % (hello,))
    print("hello %016x" % hello.protocol, flush=True)
    for size in sizes:
        for explicit in (True, False):
            msg = proto.SEND.Texts("", "x" * size, b"", b"", explicit)
            conn.writer.write(proto.tcp_message_frame(msg.encode(), explicit_final_chunk=explicit))
            await conn.drain()
            # The default pause: it ends no message that is still arriving (they tell
            # their own end), however long a loaded machine's gap between two chunks.
            back = await asyncio.wait_for(conn.receive(), 30)
            if back is None:
                print("closed", flush=True)
                return
            if back != msg:
                sys.exit("size %d: the echo differs" % size)
        print("ok %d" % size, flush=True)
    if not sizes:
        back = await asyncio.wait_for(conn.receive(), 30)
        print("closed" if back is None else "more: %r" % (back,), flush=True)
    await conn.close()


asyncio.run(main(sys.argv[2], int(sys.argv[3]), sys.argv[4], [int(s) for s in sys.argv[5:]]))
