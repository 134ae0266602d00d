// Evaluates GMX front-end math from npm @gmx-io/sdk@1.4.0 on a batch of cases for the parity test.
// stdin: {"markets": [marketInfo...], "cases": [{"fn": name, "args": [...]}...], "pows": [[base, exp]...]}
// Strings of digits become BigInt; {"$market": i} is markets[i]; {"$marketToken": [i, key]} is
// markets[i][key]. stdout: {"results": [...], "pows": [...]} with BigInts as decimal strings and a
// thrown error as {"$error": message}. "pows" gives V8's base ** exponent for each pair.
"use strict";

const fees = require("@gmx-io/sdk/utils/fees/index");
const positions = require("@gmx-io/sdk/utils/positions");
const dataStore = require("@gmx-io/sdk/configs/dataStore");

const FUNCTIONS = {
  getPositionFee: fees.getPositionFee,
  getBorrowingFactorPerPeriod: fees.getBorrowingFactorPerPeriod,
  getBorrowingFeeRateUsd: fees.getBorrowingFeeRateUsd,
  getFundingFactorPerPeriod: fees.getFundingFactorPerPeriod,
  getFundingFeeRateUsd: fees.getFundingFeeRateUsd,
  applyImpactFactor: fees.applyImpactFactor,
  getPriceImpactForPosition: fees.getPriceImpactForPosition,
  getCappedPositionImpactUsd: fees.getCappedPositionImpactUsd,
  capPositionImpactUsdByMaxImpactPool: fees.capPositionImpactUsdByMaxImpactPool,
  getProportionalPendingImpactValues: fees.getProportionalPendingImpactValues,
  getPositionPnlUsd: positions.getPositionPnlUsd,
  getLiquidationPrice: positions.getLiquidationPrice,
  getNetPriceImpactDeltaUsdForDecrease: positions.getNetPriceImpactDeltaUsdForDecrease,
  getEntryPrice: positions.getEntryPrice,
  getLeverage: positions.getLeverage,
  getPositionKey: positions.getPositionKey,
  hashedPositionKey: dataStore.hashedPositionKey,
};

function revive(value, markets) {
  if (typeof value === "string") return /^-?\d+$/.test(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map((v) => revive(v, markets));
  if (value !== null && typeof value === "object") {
    if ("$market" in value) return markets[value.$market];
    if ("$marketToken" in value) return markets[value.$marketToken[0]][value.$marketToken[1]];
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = revive(v, markets);
    return out;
  }
  return value;
}

function power(base, exponent) {
  return base ** exponent;
}

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const markets = input.markets.map((m) => revive(m, []));
const results = input.cases.map(({ fn, args }) => {
  const f = FUNCTIONS[fn];
  if (!f) throw new Error(`unknown function ${fn}`);
  try {
    const result = f(...revive(args, markets));
    return result === undefined ? null : result;
  } catch (error) {
    return { $error: String(error && error.message) };
  }
});
const pows = input.pows.map(([b, e]) => power(b, e));
const text = JSON.stringify({ results, pows }, (_, v) => (typeof v === "bigint" ? v.toString() : v));
require("fs").writeFileSync(1, text);
