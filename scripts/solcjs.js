// Shared body of the solc wrappers: forge cannot download a native solc offline, so it runs npm's solcjs
// (WebAssembly) through a wrapper. forge calls `<solc> --version` and `<solc> --standard-json ...` with the
// input on stdin; every source's content is embedded, so no import callback is needed.
const path = require("path");

module.exports = function run(packageName) {
  const solc = require(path.join(__dirname, "..", "node_modules", packageName));
  if (process.argv.includes("--version")) {
    process.stdout.write("solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n");
    process.exit(0);
  }
  const chunks = [];
  process.stdin.on("data", (c) => chunks.push(c));
  process.stdin.on("end", () => {
    process.stdout.write(solc.compile(Buffer.concat(chunks).toString("utf8")));
  });
};
