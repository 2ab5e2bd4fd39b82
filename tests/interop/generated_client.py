"""A client written on the generated module alone (its asyncio Connection and its
TcpMessage framing): sends each message of the sizes given, as connhandler writes them and
as the reference writer does (exact multiples with a 0 chunk), and checks each echo.

    generated_client.py MODULE HOST PORT SIZE...   prints `ok SIZE` per echo
"""
import asyncio
import importlib.util
import sys

spec = importlib.util.spec_from_file_location("proto", sys.argv[1])
proto = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proto)


async def main(host, port, sizes):
    conn = await proto.Connection.open(host, port)
    for size in sizes:
        for explicit in (True, False):
            msg = proto.SEND.Texts("", "x" * size, b"", b"", explicit)
            conn.writer.write(proto.tcp_message_frame(msg.encode(), explicit_final_chunk=explicit))
            await conn.drain()
            back = await asyncio.wait_for(conn.receive(), 30)
            if back != msg:
                sys.exit("size %d: the echo differs" % size)
        print("ok %d" % size, flush=True)
    await conn.close()


asyncio.run(main(sys.argv[2], int(sys.argv[3]), [int(s) for s in sys.argv[4:]]))
