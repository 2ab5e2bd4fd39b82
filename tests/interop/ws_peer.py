"""A WebSocket peer on the `websockets` package (PyPI), for the interop tests.

Commands (results on stdout, one line each):
  client URL [--origin O] [--subprotocol S] [--cafile F] ACTION...
      echo:N     send a binary message of N bytes, expect it back: `ok N` (or, closed by
                 the server, `closed CODE REASON` and no more actions)
      frag:N     the same, sent as fragments: `ok N`
      ping       a ping, its pong: `pong`
      text       send a text message: `closed CODE REASON` (the server must refuse it)
      close      close with code 1000 and reason "bye": `closed`
      wait-close read until the server closes: `closed CODE REASON`
  A refused upgrade prints `refused STATUS`.
  server PORT [--cert F --key F]
      echo each binary message; prints `listening on PORT`, then `closed CODE REASON` when
      the client closes; serves one client, then exits.
"""
import ssl
import sys

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.sync.server import serve


def pattern(n):
    return bytes((i * 31 + 7) & 0xFF for i in range(n))


def take(args, flag):
    if flag in args:
        i = args.index(flag)
        value = args[i + 1]
        del args[i:i + 2]
        return value
    return None


def closed(ws):
    close = ws.protocol.close_rcvd
    if close is None:
        return "closed - -"
    return "closed %d %s" % (close.code, close.reason or "-")


def client(url, args):
    origin = take(args, "--origin")
    sub = take(args, "--subprotocol")
    cafile = take(args, "--cafile")
    ctx = ssl.create_default_context(cafile=cafile) if cafile else None
    try:
        ws = connect(
            url,
            origin=origin,
            subprotocols=[sub] if sub else None,
            ssl=ctx,
            max_size=None,
            open_timeout=10,
            close_timeout=5,
        )
    except InvalidStatus as e:
        print("refused %d" % e.response.status_code, flush=True)
        return
    for action in args:
        if action.startswith("echo:") or action.startswith("frag:"):
            n = int(action[5:])
            msg = pattern(n)
            if action.startswith("frag:"):
                ws.send([msg[i:i + 1000] for i in range(0, n, 1000)] or [b""])
            else:
                ws.send(msg)
            try:
                got = ws.recv(timeout=10)
            except ConnectionClosed:
                print(closed(ws), flush=True)
                return
            if got != msg:
                sys.exit("echo of %d bytes: got %r" % (n, got[:40]))
            print("ok %d" % n, flush=True)
        elif action == "ping":
            ws.ping(b"are you there").wait(10)
            print("pong", flush=True)
        elif action in ("text", "wait-close"):
            try:
                if action == "text":
                    ws.send("a text message")
                while True:
                    ws.recv(timeout=10)
            except ConnectionClosed:
                print(closed(ws), flush=True)
        elif action == "close":
            ws.close(1000, "bye")
            print("closed", flush=True)
        else:
            sys.exit("unknown action %r" % action)


def server(port, args):
    cert = take(args, "--cert")
    key = take(args, "--key")
    ctx = None
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)

    def handler(ws):
        try:
            for msg in ws:
                ws.send(msg)
        except ConnectionClosed:
            pass
        print(closed(ws), flush=True)
        srv.shutdown()

    with serve(handler, "127.0.0.1", port, ssl=ctx, max_size=None) as srv:
        print("listening on %d" % port, flush=True)
        srv.serve_forever()


def main(argv):
    if argv[0] == "client":
        client(argv[1], argv[2:])
    elif argv[0] == "server":
        server(int(argv[1]), argv[2:])
    else:
        sys.exit("unknown command %r" % argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])
