#!/usr/bin/env node
// Aave v3.6 needs solc >= 0.8.26 (`require(cond, CustomError())`) and is audited with 0.8.27, so the `aave`
// forge profile compiles with npm's solcjs 0.8.27 (alias `solc-0.8.27`). Its standard-json output is
// several MB: solcjs's own `>>>` progress lines are kept off stdout, and the result is written
// synchronously so a pipe never truncates it.
const fs = require("fs");
const path = require("path");

const solc = require(path.join(__dirname, "..", "node_modules", "solc-0.8.27"));
if (process.argv.includes("--version")) {
  process.stdout.write("solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n");
  process.exit(0);
}
const input = fs.readFileSync(0, "utf8");
const realWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => process.stderr.write(chunk, ...rest);
const output = Buffer.from(solc.compile(input), "utf8");
process.stdout.write = realWrite;
let offset = 0;
while (offset < output.length) {
  try {
    offset += fs.writeSync(1, output, offset, output.length - offset);
  } catch (err) {
    if (err.code !== "EAGAIN") throw err;
  }
}
