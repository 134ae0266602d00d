#!/usr/bin/env node
// forge cannot download solc offline; this wrapper lets it use npm's solcjs (WebAssembly) instead.
// forge calls `<solc> --version` and `<solc> --standard-json ...` with the input on stdin.
const path = require("path");
const solc = require(path.join(__dirname, "..", "node_modules", "solc"));
if (process.argv.includes("--version")) {
  process.stdout.write("solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n");
  process.exit(0);
}
const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
  process.stdout.write(solc.compile(Buffer.concat(chunks).toString("utf8")));
});
