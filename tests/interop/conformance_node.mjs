// The conformance peer in Node: `node conformance_node.mjs MODULE.js` answers one line per
// request on stdin (see conformance_peer.mjs), with the generated module given.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { peer } from "./conformance_peer.mjs";

const proto = await import(pathToFileURL(process.argv[2]).href);
const answer = peer(proto);
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  process.stdout.write(answer(line) + "\n");
}
