// A Node client written on the generated JavaScript module alone (its TcpMessage framing
// and stream reader, over node:net): says its hello (version 1.0.0 and a messages hash),
// reads the server's, then sends each message of the sizes given, as connhandler writes
// them and as the reference writer does (exact multiples with a 0 chunk), and checks each
// echo. The same as generated_client.py, for the JavaScript module.
//
//     node generated_client.mjs MODULE HOST PORT HASH SIZE...
//
// HASH is `ours` (the hello leaves its hash out: the module's own) or 16 hex digits. Prints
// `hello HASH` with the hash the server's hello says, `ok SIZE` per echo, and `closed` when
// the server closes the connection instead of answering.
import net from "node:net";
import { pathToFileURL } from "node:url";

const [modulePath, host, port, said, ...sizes] = process.argv.slice(2);
const proto = await import(pathToFileURL(modulePath).href);

const socket = net.connect(Number(port), host);
const reader = proto.streamReader();
const ready = [];
let ended = false;
let wake = null;
socket.on("data", (chunk) => {
  ready.push(...reader.feed(chunk));
  if (wake) wake();
});
socket.on("close", () => {
  ended = true;
  ready.push(...reader.flush());
  if (wake) wake();
});
socket.on("error", () => {});

/** The next message's bytes; null at the end of the stream. (The messages here tell their
 * own end, so the reader ends each on its last chunk; a program whose messages end with a
 * rest field would call `reader.flush()` after a pause, for the reference writer's exact
 * multiples: a wait on time, which this test does not make.) */
async function receive() {
  const until = Date.now() + 30_000;
  while (ready.length === 0) {
    if (ended) return null;
    if (Date.now() > until) throw new Error("no message within 30 s");
    await new Promise((resolve) => {
      wake = resolve;
      setTimeout(resolve, 1000);
    });
    wake = null;
  }
  return ready.shift();
}

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

socket.write(proto.frame(new proto.SEND.Hello("1.0.0", said === "ours" ? undefined : BigInt("0x" + said)).encode()));
const first = await receive();
const hello = first === null ? null : proto.RECV.decode(first);
if (hello === null || hello.kind !== "Hello") {
  console.error("the server's first message is not its hello");
  process.exit(1);
}
console.log("hello " + hello.protocol.toString(16).padStart(16, "0"));
let closed = false;
for (const size of sizes.map(Number)) {
  for (const explicit of [true, false]) {
    const message = new proto.SEND.Texts("", "x".repeat(size), new Uint8Array(0), new Uint8Array(0), explicit);
    const body = message.encode();
    socket.write(proto.tcpMessageFrame(body, proto.MAX_MESSAGE_SIZE, explicit));
    const back = await receive();
    if (back === null) {
      closed = true;
      break;
    }
    if (!same(proto.RECV.decode(back).encode(), body)) {
      console.error("size " + size + ": the echo differs");
      process.exit(1);
    }
  }
  if (closed) break;
  console.log("ok " + size);
}
if (closed || sizes.length === 0) {
  const back = closed ? null : await receive();
  console.log(back === null ? "closed" : "more: " + back.length + " bytes");
}
socket.end();
