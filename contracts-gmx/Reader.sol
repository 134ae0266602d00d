// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DataStore} from "./DataStore.sol";
import {Keys} from "./Keys.sol";
import {MarketLogic} from "./MarketLogic.sol";
import {
    Market,
    Position,
    Price,
    Order,
    MarketUtils,
    PositionPricingUtils,
    ReaderPricingUtils,
    ReaderPositionUtils,
    ReaderUtils
} from "./GmxTypes.sol";

/// The SyntheticsReader calls the SDK makes, with its v2.2 argument lists and return structs.
///
/// getPositionInfo fills: position; fees.collateralTokenPrice, positionFeeFactor, positionFeeAmount,
/// positionFeeAmountForPool, feeAmountForPool, borrowing.borrowingFeeUsd/Amount, funding.fundingFeeAmount
/// (paid, collateral token), funding.claimableLong/ShortTokenAmount (received, in the slot of the
/// collateral token), funding.latest* (the stand-in's USD factors), totalCostAmount(ExcludingFunding),
/// referral.trader; executionPriceResult (all fields); basePnlUsd, uncappedBasePnlUsd,
/// pnlAfterPriceImpactUsd. Always zero (not modelled): referral rebates/affiliate, pro tiers, ui fees,
/// liquidation fees, protocolFeeAmount, positionFeeReceiverFactor, feeReceiverAmount,
/// borrowingFeeReceiverFactor, borrowingFeeAmountForFeeReceiver, totalDiscountAmount. referralStorage and
/// uiFeeReceiver are ignored.
contract Reader {
    function getMarket(DataStore dataStore, address key) external view returns (Market.Props memory) {
        return MarketLogic.getMarket(dataStore, key);
    }

    function getMarkets(DataStore dataStore, uint256 start, uint256 end) external view returns (Market.Props[] memory out) {
        address[] memory keys = dataStore.getAddressValuesAt(Keys.MARKET_LIST(), start, end);
        out = new Market.Props[](keys.length);
        for (uint256 i = 0; i < keys.length; i++) out[i] = MarketLogic.getMarket(dataStore, keys[i]);
    }

    function getPosition(DataStore dataStore, bytes32 key) public view returns (Position.Props memory p) {
        bytes memory raw = dataStore.getBytes(key);
        if (raw.length != 0) p = abi.decode(raw, (Position.Props));
    }

    function getAccountPositions(DataStore dataStore, address account, uint256 start, uint256 end)
        external
        view
        returns (Position.Props[] memory out)
    {
        bytes32[] memory keys = dataStore.getBytes32ValuesAt(Keys.accountPositionListKey(account), start, end);
        out = new Position.Props[](keys.length);
        for (uint256 i = 0; i < keys.length; i++) out[i] = getPosition(dataStore, keys[i]);
    }

    function getOrder(DataStore dataStore, bytes32 key) public view returns (Order.Props memory o) {
        bytes memory raw = dataStore.getBytes(key);
        if (raw.length != 0) o = abi.decode(raw, (Order.Props));
    }

    function getAccountOrders(DataStore dataStore, address account, uint256 start, uint256 end)
        external
        view
        returns (ReaderUtils.OrderInfo[] memory out)
    {
        bytes32[] memory keys = dataStore.getBytes32ValuesAt(Keys.accountOrderListKey(account), start, end);
        out = new ReaderUtils.OrderInfo[](keys.length);
        for (uint256 i = 0; i < keys.length; i++) out[i] = ReaderUtils.OrderInfo(keys[i], getOrder(dataStore, keys[i]));
    }

    function getPositionInfo(
        DataStore dataStore,
        address, /* referralStorage */
        bytes32 positionKey,
        MarketUtils.MarketPrices memory prices,
        uint256 sizeDeltaUsd,
        address, /* uiFeeReceiver */
        bool usePositionSizeAsSizeDeltaUsd
    ) external view returns (ReaderPositionUtils.PositionInfo memory info) {
        info.positionKey = positionKey;
        info.position = getPosition(dataStore, positionKey);
        Position.Props memory p = info.position;
        if (p.numbers.sizeInUsd == 0) return info;
        if (usePositionSizeAsSizeDeltaUsd || sizeDeltaUsd > p.numbers.sizeInUsd) sizeDeltaUsd = p.numbers.sizeInUsd;
        MarketLogic.Ctx memory c = MarketLogic.load(dataStore, p.addresses.market, prices);
        _executionPrice(info, c, p, sizeDeltaUsd);
        _pnl(info, c, p, sizeDeltaUsd);
        _fees(info, dataStore, c, p, sizeDeltaUsd);
    }

    function _executionPrice(
        ReaderPositionUtils.PositionInfo memory info,
        MarketLogic.Ctx memory c,
        Position.Props memory p,
        uint256 sizeDelta
    ) internal pure {
        ReaderPricingUtils.ExecutionPriceResult memory r = info.executionPriceResult;
        (int256 impactDelta, bool improved) =
            MarketLogic.priceImpactForPosition(c, -int256(sizeDelta), p.flags.isLong, true);
        (int256 total, int256 pendingUsd, uint256 cappedDiff) = MarketLogic.netPriceImpactForDecrease(
            c, p.numbers.sizeInUsd, p.numbers.pendingImpactAmount, impactDelta, sizeDelta
        );
        r.priceImpactUsd = impactDelta;
        r.balanceWasImproved = improved;
        r.proportionalPendingImpactUsd = pendingUsd;
        r.totalImpactUsd = total + int256(cappedDiff);
        r.priceImpactDiffUsd = cappedDiff;
        r.executionPrice = MarketLogic.decreaseExecutionPrice(
            c.indexPrice, p.numbers.sizeInUsd, p.numbers.sizeInTokens, sizeDelta, r.totalImpactUsd, p.flags.isLong
        );
    }

    function _pnl(ReaderPositionUtils.PositionInfo memory info, MarketLogic.Ctx memory c, Position.Props memory p, uint256 sizeDelta)
        internal
        pure
    {
        bool isLong = p.flags.isLong;
        uint256 size = p.numbers.sizeInUsd;
        uint256 tokens = p.numbers.sizeInTokens;
        (int256 pnl, int256 uncapped) =
            MarketLogic.positionPnlUsd(c, size, tokens, isLong ? c.indexPrice.min : c.indexPrice.max, isLong);
        uint256 deltaTokens;
        if (sizeDelta == size) deltaTokens = tokens;
        else if (isLong) deltaTokens = sizeDelta == 0 ? 0 : MarketLogic.roundUpDivision(tokens * sizeDelta, size);
        else deltaTokens = tokens * sizeDelta / size;
        info.basePnlUsd = pnl * int256(deltaTokens) / int256(tokens);
        info.uncappedBasePnlUsd = uncapped * int256(deltaTokens) / int256(tokens);
        info.pnlAfterPriceImpactUsd = info.basePnlUsd + info.executionPriceResult.totalImpactUsd;
    }

    function _fees(
        ReaderPositionUtils.PositionInfo memory info,
        DataStore dataStore,
        MarketLogic.Ctx memory c,
        Position.Props memory p,
        uint256 sizeDelta
    ) internal view {
        PositionPricingUtils.PositionFees memory f = info.fees;
        Price.Props memory cp = MarketLogic.collateralPrice(c, p.addresses.collateralToken);
        MarketLogic.Cumulative memory cum = MarketLogic.nextCumulative(dataStore, c);
        (uint256 borrowUsd, uint256 paidUsd, uint256 receivedUsd) = MarketLogic.pendingFees(p, cum);
        f.referral.trader = p.addresses.account;
        f.collateralTokenPrice = cp;
        f.positionFeeFactor = info.executionPriceResult.balanceWasImproved ? c.feeImproved : c.feeNotImproved;
        f.positionFeeAmount = MarketLogic.applyFactor(sizeDelta, f.positionFeeFactor) / cp.min;
        f.positionFeeAmountForPool = f.positionFeeAmount;
        f.borrowing.borrowingFeeUsd = borrowUsd;
        f.borrowing.borrowingFeeAmount = borrowUsd / cp.min;
        f.feeAmountForPool = f.positionFeeAmount + f.borrowing.borrowingFeeAmount;
        f.funding.fundingFeeAmount = paidUsd / cp.min;
        if (p.addresses.collateralToken == c.longToken) f.funding.claimableLongTokenAmount = receivedUsd / cp.max;
        else f.funding.claimableShortTokenAmount = receivedUsd / cp.max;
        bool isLong = p.flags.isLong;
        f.funding.latestFundingFeeAmountPerSize = isLong ? cum.paidLong : cum.paidShort;
        f.funding.latestLongTokenClaimableFundingAmountPerSize = isLong ? cum.receivedLong : cum.receivedShort;
        f.totalCostAmountExcludingFunding = f.positionFeeAmount + f.borrowing.borrowingFeeAmount;
        f.totalCostAmount = f.totalCostAmountExcludingFunding + f.funding.fundingFeeAmount;
    }
}
