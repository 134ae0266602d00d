#!/usr/bin/env node
// The Uniswap V3 libraries need 0.7 semantics (pragma <0.8.0, unchecked arithmetic), so the math harness
// is compiled with npm's solcjs 0.7.6 (alias `solc-0.7.6`) instead of the default 0.8 solcjs.
require("./solcjs")("solc-0.7.6");
