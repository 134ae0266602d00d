#!/usr/bin/env node
// solc 0.8 (npm `solc`) for the default forge profile.
require("./solcjs")("solc");
