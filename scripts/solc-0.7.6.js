#!/usr/bin/env node
// The Uniswap V3 libraries need 0.7 semantics (pragma <0.8.0, unchecked arithmetic), so the math
// harness is compiled with npm's solcjs 0.7.6 (alias `solc-0.7.6`) instead of the default 0.8 solcjs.
// forge calls `<solc> --version` and `<solc> --standard-json ...` with the input on stdin.
const path = require("path");
const solc = require(path.join(__dirname, "..", "node_modules", "solc-0.7.6"));
if (process.argv.includes("--version")) {
  process.stdout.write("solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n");
  process.exit(0);
}
const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
  process.stdout.write(solc.compile(Buffer.concat(chunks).toString("utf8")));
});
