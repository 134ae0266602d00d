// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DataStore} from "./DataStore.sol";
import {Keys} from "./Keys.sol";
import {Errors, Market, Price, Position, MarketUtils} from "./GmxTypes.sol";

/// The position math of the stand-in, mirroring src/defibots/protocols/gmx_v2 (precision, market,
/// fees, price_impact, position) integer for integer. Prices are per smallest token unit
/// (usd * 10^(30 - decimals)), so a token amount's USD is amount * price; the Python model takes
/// whole-token prices, i.e. this price * 10^decimals (its convert_to_usd divides by 10^decimals again).
/// Divisions truncate toward zero like the model's div_toward_zero.
///
/// Price impact exponent: the model (and the SDK) raise the imbalance to the exponent in floats, on-chain
/// GMX in fixed point. The stand-in supports exactly exponent 1e30 (linear: d) and 2e30 (square:
/// d * d / 1e30, integer, rounded down); any other exponent reverts UnsupportedImpactExponent.
library MarketLogic {
    uint256 internal constant FLOAT_PRECISION = 1e30;

    struct Ctx {
        address market;
        address indexToken;
        address longToken;
        address shortToken;
        Price.Props indexPrice;
        Price.Props longPrice;
        Price.Props shortPrice;
        uint256 feeImproved;
        uint256 feeNotImproved;
        uint256 impactFactorPositive;
        uint256 impactFactorNegative;
        uint256 impactExponentPositive;
        uint256 impactExponentNegative;
        uint256 maxImpactPositive;
        uint256 maxImpactNegative;
        uint256 maxImpactForLiquidations;
        uint256 maxPnlLong;
        uint256 maxPnlShort;
        bool useOpenInterestInTokens;
        uint256 longPoolAmount;
        uint256 shortPoolAmount;
        uint256 longOiUsd;
        uint256 shortOiUsd;
        uint256 longOiTokens;
        uint256 shortOiTokens;
        int256 virtualInventory;
        uint256 impactPoolAmount;
    }

    /// Cumulative borrowing (per side) and the stand-in's funding paid / received factors (per side).
    struct Cumulative {
        uint256 borrowLong;
        uint256 borrowShort;
        uint256 paidLong;
        uint256 paidShort;
        uint256 receivedLong;
        uint256 receivedShort;
    }

    function getMarket(DataStore ds, address marketToken) internal view returns (Market.Props memory m) {
        m.marketToken = ds.getAddress(Keys.marketField(marketToken, "MARKET_TOKEN"));
        m.indexToken = ds.getAddress(Keys.marketField(marketToken, "INDEX_TOKEN"));
        m.longToken = ds.getAddress(Keys.marketField(marketToken, "LONG_TOKEN"));
        m.shortToken = ds.getAddress(Keys.marketField(marketToken, "SHORT_TOKEN"));
    }

    function load(DataStore ds, address marketToken, MarketUtils.MarketPrices memory prices)
        internal
        view
        returns (Ctx memory c)
    {
        Market.Props memory m = getMarket(ds, marketToken);
        if (m.marketToken == address(0)) revert Errors.InvalidPositionMarket(marketToken);
        c.market = marketToken;
        c.indexToken = m.indexToken;
        c.longToken = m.longToken;
        c.shortToken = m.shortToken;
        c.indexPrice = prices.indexTokenPrice;
        c.longPrice = prices.longTokenPrice;
        c.shortPrice = prices.shortTokenPrice;
        _loadConfig(ds, c);
        _loadState(ds, c);
    }

    function _loadConfig(DataStore ds, Ctx memory c) private view {
        address mk = c.market;
        c.feeImproved = ds.getUint(Keys.positionFeeFactorKey(mk, true));
        c.feeNotImproved = ds.getUint(Keys.positionFeeFactorKey(mk, false));
        c.impactFactorPositive = ds.getUint(Keys.positionImpactFactorKey(mk, true));
        c.impactFactorNegative = ds.getUint(Keys.positionImpactFactorKey(mk, false));
        c.impactExponentPositive = ds.getUint(Keys.positionImpactExponentFactorKey(mk, true));
        c.impactExponentNegative = ds.getUint(Keys.positionImpactExponentFactorKey(mk, false));
        c.maxImpactPositive = ds.getUint(Keys.maxPositionImpactFactorKey(mk, true));
        c.maxImpactNegative = ds.getUint(Keys.maxPositionImpactFactorKey(mk, false));
        c.maxImpactForLiquidations = ds.getUint(Keys.maxPositionImpactFactorForLiquidationsKey(mk));
        c.maxPnlLong = ds.getUint(Keys.maxPnlFactorKey(Keys.MAX_PNL_FACTOR_FOR_TRADERS(), mk, true));
        c.maxPnlShort = ds.getUint(Keys.maxPnlFactorKey(Keys.MAX_PNL_FACTOR_FOR_TRADERS(), mk, false));
        c.useOpenInterestInTokens = ds.getBool(Keys.useOpenInterestInTokensForBalanceKey(mk));
    }

    function _loadState(DataStore ds, Ctx memory c) private view {
        address mk = c.market;
        c.longPoolAmount = ds.getUint(Keys.poolAmountKey(mk, c.longToken));
        c.shortPoolAmount = ds.getUint(Keys.poolAmountKey(mk, c.shortToken));
        c.longOiUsd = sideOpenInterest(ds, c, true, false);
        c.shortOiUsd = sideOpenInterest(ds, c, false, false);
        c.longOiTokens = sideOpenInterest(ds, c, true, true);
        c.shortOiTokens = sideOpenInterest(ds, c, false, true);
        bytes32 virtualTokenId = ds.getBytes32(Keys.virtualTokenIdKey(c.indexToken));
        if (virtualTokenId != bytes32(0)) {
            c.virtualInventory = ds.getInt(Keys.virtualInventoryForPositionsKey(virtualTokenId));
        }
        c.impactPoolAmount = ds.getUint(Keys.positionImpactPoolAmountKey(mk));
    }

    /// A side's open interest summed over the market's collateral tokens (GMX keys it per collateral).
    function sideOpenInterest(DataStore ds, Ctx memory c, bool isLong, bool inTokens) internal view returns (uint256) {
        bytes32 k1 = inTokens
            ? Keys.openInterestInTokensKey(c.market, c.longToken, isLong)
            : Keys.openInterestKey(c.market, c.longToken, isLong);
        uint256 total = ds.getUint(k1);
        if (c.shortToken != c.longToken) {
            bytes32 k2 = inTokens
                ? Keys.openInterestInTokensKey(c.market, c.shortToken, isLong)
                : Keys.openInterestKey(c.market, c.shortToken, isLong);
            total += ds.getUint(k2);
        }
        return total;
    }

    // ---- precision (precision.py) ----

    function applyFactor(uint256 value, uint256 factor) internal pure returns (uint256) {
        return value * factor / FLOAT_PRECISION;
    }

    function applyFactorSigned(int256 value, uint256 factor) internal pure returns (int256) {
        return value * int256(factor) / int256(FLOAT_PRECISION);
    }

    function roundUpDivision(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a + b - 1) / b;
    }

    function abs(int256 x) internal pure returns (uint256) {
        return uint256(x >= 0 ? x : -x);
    }

    /// USD (signed) -> collateral token amount: a gain at the max price (down), a cost at the min price
    /// rounded up in magnitude.
    function usdToAmountSigned(int256 usd, Price.Props memory price) internal pure returns (int256) {
        if (usd >= 0) return int256(uint256(usd) / price.max);
        return -int256(roundUpDivision(uint256(-usd), price.min));
    }

    function collateralPrice(Ctx memory c, address collateralToken) internal pure returns (Price.Props memory) {
        return collateralToken == c.longToken ? c.longPrice : c.shortPrice;
    }

    // ---- market views (market.py) ----

    function midPrice(Price.Props memory p) internal pure returns (uint256) {
        return (p.min + p.max) / 2;
    }

    function openInterestForBalance(Ctx memory c, bool isLong) internal pure returns (uint256) {
        if (c.useOpenInterestInTokens) {
            return (isLong ? c.longOiTokens : c.shortOiTokens) * midPrice(c.indexPrice);
        }
        return isLong ? c.longOiUsd : c.shortOiUsd;
    }

    function poolUsdMin(Ctx memory c, bool isLong) internal pure returns (uint256) {
        return isLong ? c.longPoolAmount * c.longPrice.min : c.shortPoolAmount * c.shortPrice.min;
    }

    /// market_pnl(is_long, maximize=False)
    function marketPnl(Ctx memory c, bool isLong) internal pure returns (int256) {
        uint256 oiUsd = isLong ? c.longOiUsd : c.shortOiUsd;
        uint256 oiTokens = isLong ? c.longOiTokens : c.shortOiTokens;
        if (oiUsd == 0 || oiTokens == 0) return 0;
        uint256 price = isLong ? c.indexPrice.min : c.indexPrice.max;
        int256 value = int256(oiTokens * price);
        return isLong ? value - int256(oiUsd) : int256(oiUsd) - value;
    }

    // ---- price impact (price_impact.py) ----

    function applyImpactFactor(uint256 diff, uint256 factor, uint256 exponent) internal pure returns (uint256) {
        uint256 powered;
        if (exponent == FLOAT_PRECISION) {
            powered = diff;
        } else if (exponent == 2 * FLOAT_PRECISION) {
            powered = diff * diff / FLOAT_PRECISION;
        } else {
            revert Errors.UnsupportedImpactExponent(exponent);
        }
        return powered * factor / FLOAT_PRECISION;
    }

    function _signedDelta(uint256 a, uint256 b, bool positive) private pure returns (int256) {
        int256 delta = int256(a > b ? a - b : b - a);
        return positive ? delta : -delta;
    }

    function priceImpactUsd(Ctx memory c, int256 curL, int256 curS, int256 nextL, int256 nextS, bool fallbackToZero)
        internal
        pure
        returns (int256 delta, bool improved)
    {
        if (nextL < 0 || nextS < 0) {
            if (fallbackToZero) return (0, false);
            revert("NegativeOpenInterest");
        }
        uint256 curDiff = abs(curL - curS);
        uint256 nextDiff = abs(nextL - nextS);
        improved = nextDiff < curDiff;
        if ((curL < curS) == (nextL < nextS)) {
            uint256 factor = improved ? c.impactFactorPositive : c.impactFactorNegative;
            uint256 exponent = improved ? c.impactExponentPositive : c.impactExponentNegative;
            uint256 a = applyImpactFactor(curDiff, factor, exponent);
            uint256 b = applyImpactFactor(nextDiff, factor, exponent);
            delta = _signedDelta(a, b, nextDiff < curDiff);
        } else {
            uint256 pos = applyImpactFactor(curDiff, c.impactFactorPositive, c.impactExponentPositive);
            uint256 neg = applyImpactFactor(nextDiff, c.impactFactorNegative, c.impactExponentNegative);
            delta = _signedDelta(pos, neg, pos > neg);
        }
    }

    function _impactOfDelta(Ctx memory c, int256 curL, int256 curS, int256 sizeDelta, bool isLong, bool fb)
        private
        pure
        returns (int256, bool)
    {
        if (isLong) return priceImpactUsd(c, curL, curS, curL + sizeDelta, curS, fb);
        return priceImpactUsd(c, curL, curS, curL, curS + sizeDelta, fb);
    }

    /// price_impact_for_position: uncapped; a negative impact is worsened by the virtual inventory.
    function priceImpactForPosition(Ctx memory c, int256 sizeDelta, bool isLong, bool fallbackToZero)
        internal
        pure
        returns (int256 delta, bool improved)
    {
        (delta, improved) = _impactOfDelta(
            c,
            int256(openInterestForBalance(c, true)),
            int256(openInterestForBalance(c, false)),
            sizeDelta,
            isLong,
            fallbackToZero
        );
        if (delta > 0 || c.virtualInventory == 0) return (delta, improved);
        int256 vLong;
        int256 vShort;
        if (c.virtualInventory > 0) vShort = c.virtualInventory;
        else vLong = -c.virtualInventory;
        if (sizeDelta < 0) {
            vLong += -sizeDelta;
            vShort += -sizeDelta;
        }
        (int256 virtualDelta,) = _impactOfDelta(c, vLong, vShort, sizeDelta, isLong, fallbackToZero);
        if (virtualDelta < delta) delta = virtualDelta;
    }

    function maxImpactFactors(Ctx memory c) internal pure returns (uint256 maxPositive, uint256 maxNegative) {
        maxNegative = c.maxImpactNegative;
        maxPositive = c.maxImpactPositive < maxNegative ? c.maxImpactPositive : maxNegative;
    }

    function capByMaxImpactFactor(Ctx memory c, int256 sizeDelta, int256 impact) internal pure returns (int256) {
        (uint256 maxPositive, uint256 maxNegative) = maxImpactFactors(c);
        uint256 cap = applyFactor(abs(sizeDelta), impact > 0 ? maxPositive : maxNegative);
        if (abs(impact) > cap) return impact > 0 ? int256(cap) : -int256(cap);
        return impact;
    }

    function capByImpactPool(Ctx memory c, int256 impact) internal pure returns (int256) {
        if (impact < 0) return impact;
        int256 poolUsd = int256(c.impactPoolAmount * c.indexPrice.min);
        return impact < poolUsd ? impact : poolUsd;
    }

    function cappedPositionImpactUsd(Ctx memory c, uint256 sizeDelta, bool isLong, bool isIncrease)
        internal
        pure
        returns (int256, bool)
    {
        int256 signedDelta = isIncrease ? int256(sizeDelta) : -int256(sizeDelta);
        (int256 delta, bool improved) = priceImpactForPosition(c, signedDelta, isLong, false);
        if (delta < 0) return (delta, improved);
        return (capByMaxImpactFactor(c, signedDelta, delta), improved);
    }

    /// proportional_pending_impact: (amount, usd); the share is truncated toward zero either way.
    function proportionalPendingImpact(Ctx memory c, uint256 sizeInUsd, int256 pendingAmount, uint256 sizeDelta)
        internal
        pure
        returns (int256 amount, int256 usd)
    {
        if (sizeDelta != 0 && sizeInUsd != 0) {
            amount = pendingAmount * int256(sizeDelta) / int256(sizeInUsd);
        }
        uint256 price = amount > 0 ? c.indexPrice.min : c.indexPrice.max;
        usd = amount * int256(price);
    }

    /// net_price_impact_for_decrease: (total_usd, pending_usd, capped_diff_usd).
    function netPriceImpactForDecrease(
        Ctx memory c,
        uint256 sizeInUsd,
        int256 pendingAmount,
        int256 impactDelta,
        uint256 sizeDelta
    ) internal pure returns (int256 total, int256 pendingUsd, uint256 cappedDiff) {
        (, pendingUsd) = proportionalPendingImpact(c, sizeInUsd, pendingAmount, sizeDelta);
        total = impactDelta + pendingUsd;
        if (total <= 0) {
            (, uint256 maxNegative) = maxImpactFactors(c);
            int256 floor = -int256(applyFactor(sizeDelta, maxNegative));
            if (total < floor) cappedDiff = uint256(floor - total);
        }
        if (total > 0) total = capByMaxImpactFactor(c, int256(sizeDelta), total);
        total = capByImpactPool(c, total);
    }

    // ---- PnL (position.py) ----

    /// position_pnl_usd (capped) and the uncapped PnL, for the whole position at `markPrice`.
    function positionPnlUsd(Ctx memory c, uint256 sizeInUsd, uint256 sizeInTokens, uint256 markPrice, bool isLong)
        internal
        pure
        returns (int256 pnl, int256 uncapped)
    {
        int256 value = int256(sizeInTokens * markPrice);
        pnl = isLong ? value - int256(sizeInUsd) : int256(sizeInUsd) - value;
        uncapped = pnl;
        if (pnl <= 0) return (pnl, uncapped);
        int256 poolPnl = marketPnl(c, isLong);
        uint256 poolUsd = poolUsdMin(c, isLong);
        int256 capped = poolPnl;
        if (poolPnl >= 0) {
            int256 maxPnl = int256(applyFactor(poolUsd, isLong ? c.maxPnlLong : c.maxPnlShort));
            if (maxPnl < poolPnl) capped = maxPnl;
        }
        if (capped != poolPnl && capped > 0 && poolPnl > 0) {
            pnl = pnl * (capped / 1e18) / (poolPnl / 1e18);
        }
    }

    // ---- borrowing and funding (stand-in rates; the model takes the per-second rates as given) ----

    function _pow(uint256 value, uint256 exponent) private pure returns (uint256) {
        if (exponent == 0 || exponent == FLOAT_PRECISION) return value;
        if (exponent == 2 * FLOAT_PRECISION) return value * value / FLOAT_PRECISION;
        revert Errors.UnsupportedImpactExponent(exponent);
    }

    /// BORROWING_FACTOR * (reservedUsd ^ BORROWING_EXPONENT_FACTOR) / poolUsd, per second; reservedUsd is
    /// OI in tokens * index max price for longs and OI in USD for shorts, poolUsd the side's pool at min.
    function borrowingFactorPerSecond(DataStore ds, Ctx memory c, bool isLong) internal view returns (uint256) {
        uint256 factor = ds.getUint(Keys.borrowingFactorKey(c.market, isLong));
        uint256 poolUsd = poolUsdMin(c, isLong);
        if (factor == 0 || poolUsd == 0) return 0;
        uint256 reserved = isLong ? c.longOiTokens * c.indexPrice.max : c.shortOiUsd;
        uint256 exponent = ds.getUint(Keys.borrowingExponentFactorKey(c.market, isLong));
        return applyFactor(_pow(reserved, exponent) * FLOAT_PRECISION / poolUsd, factor);
    }

    /// FUNDING_FACTOR * (|long - short| ^ FUNDING_EXPONENT_FACTOR) / (long + short), per second, paid by
    /// the larger side (OI for balance as the model counts it).
    function fundingFactorPerSecond(DataStore ds, Ctx memory c) internal view returns (uint256 rate, bool longsPayShorts) {
        uint256 longOi = openInterestForBalance(c, true);
        uint256 shortOi = openInterestForBalance(c, false);
        longsPayShorts = longOi > shortOi;
        uint256 total = longOi + shortOi;
        uint256 diff = longOi > shortOi ? longOi - shortOi : shortOi - longOi;
        uint256 factor = ds.getUint(Keys.fundingFactorKey(c.market));
        if (total == 0 || diff == 0 || factor == 0) return (0, longsPayShorts);
        uint256 exponent = ds.getUint(Keys.fundingExponentFactorKey(c.market));
        rate = applyFactor(_pow(diff, exponent) * FLOAT_PRECISION / total, factor);
    }

    /// The cumulative factors as of block.timestamp (stored values plus the accrual since the update).
    function nextCumulative(DataStore ds, Ctx memory c) internal view returns (Cumulative memory cum) {
        address mk = c.market;
        cum.borrowLong = ds.getUint(Keys.cumulativeBorrowingFactorKey(mk, true));
        cum.borrowShort = ds.getUint(Keys.cumulativeBorrowingFactorKey(mk, false));
        cum.paidLong = ds.getUint(Keys.fundingFeeAmountPerSizeKey(mk, true));
        cum.paidShort = ds.getUint(Keys.fundingFeeAmountPerSizeKey(mk, false));
        cum.receivedLong = ds.getUint(Keys.claimableFundingAmountPerSizeKey(mk, true));
        cum.receivedShort = ds.getUint(Keys.claimableFundingAmountPerSizeKey(mk, false));
        uint256 dtLong = _elapsed(ds.getUint(Keys.cumulativeBorrowingFactorUpdatedAtKey(mk, true)));
        uint256 dtShort = _elapsed(ds.getUint(Keys.cumulativeBorrowingFactorUpdatedAtKey(mk, false)));
        cum.borrowLong += borrowingFactorPerSecond(ds, c, true) * dtLong;
        cum.borrowShort += borrowingFactorPerSecond(ds, c, false) * dtShort;
        uint256 dt = _elapsed(ds.getUint(Keys.fundingUpdatedAtKey(mk)));
        (uint256 rate, bool longsPay) = fundingFactorPerSecond(ds, c);
        if (rate == 0 || dt == 0) return cum;
        uint256 payingOi = openInterestForBalance(c, longsPay);
        uint256 receivingOi = openInterestForBalance(c, !longsPay);
        uint256 receiving = receivingOi != 0 ? rate * payingOi / receivingOi : 0;
        if (longsPay) {
            cum.paidLong += rate * dt;
            cum.receivedShort += receiving * dt;
        } else {
            cum.paidShort += rate * dt;
            cum.receivedLong += receiving * dt;
        }
    }

    function _elapsed(uint256 updatedAt) private view returns (uint256) {
        return updatedAt == 0 || updatedAt >= block.timestamp ? 0 : block.timestamp - updatedAt;
    }

    /// Pending borrowing fee, funding paid and funding received (USD) of a position at `cum`.
    function pendingFees(Position.Props memory p, Cumulative memory cum)
        internal
        pure
        returns (uint256 borrowingUsd, uint256 fundingPaidUsd, uint256 fundingReceivedUsd)
    {
        if (p.numbers.sizeInUsd == 0) return (0, 0, 0);
        bool isLong = p.flags.isLong;
        uint256 borrow = isLong ? cum.borrowLong : cum.borrowShort;
        uint256 paid = isLong ? cum.paidLong : cum.paidShort;
        uint256 received = isLong ? cum.receivedLong : cum.receivedShort;
        borrowingUsd = applyFactor(p.numbers.sizeInUsd, borrow - p.numbers.borrowingFactor);
        fundingPaidUsd = applyFactor(p.numbers.sizeInUsd, paid - p.numbers.fundingFeeAmountPerSize);
        fundingReceivedUsd = applyFactor(p.numbers.sizeInUsd, received - p.numbers.longTokenClaimableFundingAmountPerSize);
    }

    // ---- liquidation (the model's liquidation_price assumptions) ----

    struct LiquidationCheck {
        bool liquidatable;
        string reason;
        int256 remainingCollateralUsd;
        int256 minCollateralUsd;
        int256 minCollateralUsdForLeverage;
    }

    /// remaining = collateral (min price) + PnL (capped, at the PnL price) + closing impact - closing fee
    /// - pending borrowing - funding paid + funding received; the closing impact is the model's: the impact
    /// of closing the whole size (fallback to zero), a gain capped by the max factor, plus the pending
    /// impact, floored at -MAX_POSITION_IMPACT_FACTOR_FOR_LIQUIDATIONS * size and at most zero.
    /// Liquidatable when remaining < max(minCollateralFactor * size, MIN_COLLATERAL_USD).
    function checkLiquidation(
        Ctx memory c,
        Position.Props memory p,
        uint256 pendingCostUsd,
        uint256 pendingReceivedUsd,
        uint256 minCollateralFactor,
        uint256 minCollateralUsd
    ) internal pure returns (LiquidationCheck memory r) {
        r.remainingCollateralUsd = _remainingCollateralUsd(c, p) + int256(pendingReceivedUsd) - int256(pendingCostUsd);
        r.minCollateralUsd = int256(minCollateralUsd);
        r.minCollateralUsdForLeverage = int256(applyFactor(p.numbers.sizeInUsd, minCollateralFactor));
        if (r.remainingCollateralUsd < r.minCollateralUsd) {
            r.liquidatable = true;
            r.reason = "min collateral";
        } else if (r.remainingCollateralUsd <= 0) {
            r.liquidatable = true;
            r.reason = "< 0";
        } else if (r.remainingCollateralUsd < r.minCollateralUsdForLeverage) {
            r.liquidatable = true;
            r.reason = "min collateral for leverage";
        }
    }

    function _remainingCollateralUsd(Ctx memory c, Position.Props memory p) private pure returns (int256) {
        bool isLong = p.flags.isLong;
        Price.Props memory colPrice = collateralPrice(c, p.addresses.collateralToken);
        (int256 pnl,) =
            positionPnlUsd(c, p.numbers.sizeInUsd, p.numbers.sizeInTokens, isLong ? c.indexPrice.min : c.indexPrice.max, isLong);
        int256 closingFee = int256(applyFactor(p.numbers.sizeInUsd, c.feeNotImproved));
        return int256(p.numbers.collateralAmount * colPrice.min) + pnl + closingImpactForLiquidation(c, p) - closingFee;
    }

    function closingImpactForLiquidation(Ctx memory c, Position.Props memory p) internal pure returns (int256 impact) {
        uint256 size = p.numbers.sizeInUsd;
        (impact,) = priceImpactForPosition(c, -int256(size), p.flags.isLong, true);
        if (impact > 0) impact = capByMaxImpactFactor(c, int256(size), impact);
        int256 pending = p.numbers.pendingImpactAmount;
        impact += pending * int256(pending > 0 ? c.indexPrice.min : c.indexPrice.max);
        int256 floor = -int256(applyFactor(size, c.maxImpactForLiquidations));
        if (impact < floor) impact = floor;
        if (impact > 0) impact = 0;
    }

    /// GMX's decrease execution price: the PnL-side index price moved by the impact per token.
    function decreaseExecutionPrice(
        Price.Props memory indexPrice,
        uint256 sizeInUsd,
        uint256 sizeInTokens,
        uint256 sizeDelta,
        int256 impactUsd,
        bool isLong
    ) internal pure returns (uint256) {
        uint256 price = isLong ? indexPrice.min : indexPrice.max;
        if (sizeDelta == 0 || sizeInTokens == 0) return price;
        int256 adjusted = isLong ? impactUsd : -impactUsd;
        if (adjusted < 0 && uint256(-adjusted) > sizeDelta) {
            revert Errors.PriceImpactLargerThanOrderSize(adjusted, sizeDelta);
        }
        int256 adjustment = int256(sizeInUsd) * adjusted / int256(sizeInTokens) / int256(sizeDelta);
        int256 execution = int256(price) + adjustment;
        if (execution < 0) revert Errors.NegativeExecutionPrice(execution, price, sizeInUsd, adjusted, sizeDelta);
        return uint256(execution);
    }
}
