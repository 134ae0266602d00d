// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoleStore, RoleModule} from "./RoleStore.sol";
import {DataStore} from "./DataStore.sol";
import {EventEmitter} from "./EventEmitter.sol";
import {OrderVault, MarketToken} from "./Bank.sol";
import {Keys} from "./Keys.sol";
import {MarketLogic} from "./MarketLogic.sol";
import {PositionExec, PositionEvents} from "./PositionEvents.sol";
import {Errors, Order, Position, Price, MarketUtils, EventUtils} from "./GmxTypes.sol";

/// Executes increases, decreases and liquidations for the OrderHandler (CONTROLLER-only). Everything it
/// changes reverts together when a check fails, so the OrderHandler can cancel or freeze the order.
///
/// Accounting (see MarketLogic for the math):
/// - increase: impact = capped_position_impact_usd (a gain capped by the max positive factor), kept on the
///   position as pendingImpactAmount (index tokens: a gain / index max, a cost / index min rounded up);
///   sizeInTokens grows by size / index max (long) or size / index min rounded up (short); execution
///   price = size / (base tokens + impact tokens). Fees (position fee with the balance factor, pending
///   borrowing, funding paid) come out of the collateral at the collateral's min price; funding received
///   is added to it.
/// - decrease: impact = net_price_impact_for_decrease of the new impact and the realized share of the
///   pending impact; a loss beyond the max negative factor is not charged (GMX makes it claimable).
///   PnL = position_pnl_usd (pool-capped) * sizeDeltaInTokens / sizeInTokens; PnL, impact, fees and
///   funding settle in the collateral token (a gain at its max price, a cost at its min price rounded up);
///   the pool of the collateral token takes the other side.
contract PositionHandler is RoleModule {
    DataStore public immutable dataStore;
    EventEmitter public immutable eventEmitter;
    OrderVault public immutable orderVault;
    PositionEvents public immutable positionEvents;


    constructor(
        RoleStore _roleStore,
        DataStore _dataStore,
        EventEmitter _eventEmitter,
        OrderVault _orderVault,
        PositionEvents _positionEvents
    ) RoleModule(_roleStore) {
        positionEvents = _positionEvents;
        dataStore = _dataStore;
        eventEmitter = _eventEmitter;
        orderVault = _orderVault;
    }

    function executeOrder(bytes32 orderKey, Order.Props memory order, MarketUtils.MarketPrices memory prices)
        external
        onlyController
    {
        uint256 t = order.numbers.orderType;
        MarketLogic.Ctx memory c = MarketLogic.load(dataStore, order.addresses.market, prices);
        MarketLogic.Cumulative memory cum = _updateCumulative(c);
        if (Order.isIncrease(t)) {
            _increase(orderKey, order, c, cum);
        } else if (Order.isDecrease(t)) {
            _decrease(orderKey, order, c, cum);
        } else {
            revert Errors.UnsupportedOrderType(t);
        }
    }

    /// Closes a position whose remaining collateral is below the liquidation minimum
    /// (MIN_COLLATERAL_FACTOR_FOR_LIQUIDATION, MIN_COLLATERAL_USD), as an order of type Liquidation.
    function liquidate(bytes32 orderKey, Order.Props memory order, MarketUtils.MarketPrices memory prices)
        external
        onlyController
    {
        MarketLogic.Ctx memory c = MarketLogic.load(dataStore, order.addresses.market, prices);
        MarketLogic.Cumulative memory cum = _updateCumulative(c);
        bytes32 pk = Keys.positionKey(
            order.addresses.account, order.addresses.market, order.addresses.initialCollateralToken, order.flags.isLong
        );
        Position.Props memory p = getPosition(pk);
        if (p.numbers.sizeInUsd == 0) revert Errors.EmptyPosition();
        (uint256 borrowUsd, uint256 paidUsd, uint256 receivedUsd) = MarketLogic.pendingFees(p, cum);
        MarketLogic.LiquidationCheck memory r = MarketLogic.checkLiquidation(
            c,
            p,
            borrowUsd + paidUsd,
            receivedUsd,
            dataStore.getUint(Keys.minCollateralFactorForLiquidationKey(c.market)),
            dataStore.getUint(Keys.MIN_COLLATERAL_USD())
        );
        if (!r.liquidatable) {
            revert Errors.PositionShouldNotBeLiquidated(
                r.reason, r.remainingCollateralUsd, r.minCollateralUsd, r.minCollateralUsdForLeverage
            );
        }
        order.numbers.sizeDeltaUsd = p.numbers.sizeInUsd;
        _decrease(orderKey, order, c, cum);
    }

    // ---- cumulative borrowing / funding ----

    function _updateCumulative(MarketLogic.Ctx memory c) internal returns (MarketLogic.Cumulative memory cum) {
        DataStore ds = dataStore;
        cum = MarketLogic.nextCumulative(ds, c);
        address mk = c.market;
        ds.setUint(Keys.cumulativeBorrowingFactorKey(mk, true), cum.borrowLong);
        ds.setUint(Keys.cumulativeBorrowingFactorKey(mk, false), cum.borrowShort);
        ds.setUint(Keys.fundingFeeAmountPerSizeKey(mk, true), cum.paidLong);
        ds.setUint(Keys.fundingFeeAmountPerSizeKey(mk, false), cum.paidShort);
        ds.setUint(Keys.claimableFundingAmountPerSizeKey(mk, true), cum.receivedLong);
        ds.setUint(Keys.claimableFundingAmountPerSizeKey(mk, false), cum.receivedShort);
        ds.setUint(Keys.cumulativeBorrowingFactorUpdatedAtKey(mk, true), block.timestamp);
        ds.setUint(Keys.cumulativeBorrowingFactorUpdatedAtKey(mk, false), block.timestamp);
        ds.setUint(Keys.fundingUpdatedAtKey(mk), block.timestamp);
    }

    // ---- increase ----

    function _increase(bytes32 orderKey, Order.Props memory order, MarketLogic.Ctx memory c, MarketLogic.Cumulative memory cum)
        internal
    {
        PositionExec.Exec memory e;
        e.orderKey = orderKey;
        e.orderType = order.numbers.orderType;
        bool isLong = order.flags.isLong;
        address collateralToken = order.addresses.initialCollateralToken;
        e.positionKey = Keys.positionKey(order.addresses.account, c.market, collateralToken, isLong);
        Position.Props memory p = getPosition(e.positionKey);
        if (p.addresses.account == address(0)) {
            p.addresses = Position.Addresses(order.addresses.account, c.market, collateralToken);
            p.flags.isLong = isLong;
        }
        e.collateralBefore = p.numbers.collateralAmount;
        uint256 collateralIn = order.numbers.initialCollateralDeltaAmount;
        orderVault.transferOut(collateralToken, c.market, collateralIn);

        e.sizeDeltaUsd = order.numbers.sizeDeltaUsd;
        (e.priceImpactUsd, e.balanceWasImproved) = MarketLogic.cappedPositionImpactUsd(c, e.sizeDeltaUsd, isLong, true);
        if (e.sizeDeltaUsd == 0) e.priceImpactUsd = 0;
        _fees(e, c, p, cum, collateralToken);
        e.collateralDeltaAmount = int256(collateralIn) + int256(e.fundingReceivedAmount)
            - int256(e.positionFeeAmount + e.borrowingFeeAmount + e.fundingFeeAmount);
        if (int256(p.numbers.collateralAmount) + e.collateralDeltaAmount < 0) {
            revert Errors.InsufficientCollateralAmount(p.numbers.collateralAmount, e.collateralDeltaAmount);
        }

        Price.Props memory ip = c.indexPrice;
        e.sizeDeltaInTokens = isLong ? e.sizeDeltaUsd / ip.max : MarketLogic.roundUpDivision(e.sizeDeltaUsd, ip.min);
        e.priceImpactAmount = e.priceImpactUsd > 0
            ? int256(uint256(e.priceImpactUsd) / ip.max)
            : -int256(MarketLogic.roundUpDivision(uint256(-e.priceImpactUsd), ip.min));
        if (e.sizeDeltaUsd == 0) {
            e.executionPrice = isLong ? ip.max : ip.min;
        } else {
            int256 tokens = int256(e.sizeDeltaInTokens) + e.priceImpactAmount;
            if (tokens <= 0) revert Errors.PriceImpactLargerThanOrderSize(e.priceImpactUsd, e.sizeDeltaUsd);
            e.executionPrice = e.sizeDeltaUsd / uint256(tokens);
            uint256 acceptable = order.numbers.acceptablePrice;
            if (isLong ? e.executionPrice > acceptable : e.executionPrice < acceptable) {
                revert Errors.OrderNotFulfillableAtAcceptablePrice(e.executionPrice, acceptable);
            }
        }

        p.numbers.sizeInUsd += e.sizeDeltaUsd;
        p.numbers.sizeInTokens += e.sizeDeltaInTokens;
        p.numbers.collateralAmount = uint256(int256(p.numbers.collateralAmount) + e.collateralDeltaAmount);
        p.numbers.pendingImpactAmount += e.priceImpactAmount;
        _snapshot(p, cum);
        p.numbers.increasedAtTime = block.timestamp;

        _applyOpenInterest(c, collateralToken, isLong, int256(e.sizeDeltaUsd), int256(e.sizeDeltaInTokens));
        _applyPool(c.market, collateralToken, int256(e.collateralBefore + collateralIn) - int256(p.numbers.collateralAmount));
        _validateIncrease(c, p, isLong);

        _storePosition(e.positionKey, p);
        _emitPositionEvent("PositionIncrease", e, p, c, collateralToken);
        _emitFees(e, c, p, collateralToken, true);
    }

    function _fees(
        PositionExec.Exec memory e,
        MarketLogic.Ctx memory c,
        Position.Props memory p,
        MarketLogic.Cumulative memory cum,
        address collateralToken
    ) internal pure {
        Price.Props memory cp = MarketLogic.collateralPrice(c, collateralToken);
        (uint256 borrowUsd, uint256 paidUsd, uint256 receivedUsd) = MarketLogic.pendingFees(p, cum);
        e.positionFeeFactor = e.balanceWasImproved ? c.feeImproved : c.feeNotImproved;
        e.positionFeeAmount = MarketLogic.applyFactor(e.sizeDeltaUsd, e.positionFeeFactor) / cp.min;
        e.borrowingFeeUsd = borrowUsd;
        e.borrowingFeeAmount = borrowUsd / cp.min;
        e.fundingFeeAmount = paidUsd / cp.min;
        e.fundingReceivedAmount = receivedUsd / cp.max;
    }

    function _snapshot(Position.Props memory p, MarketLogic.Cumulative memory cum) internal pure {
        bool isLong = p.flags.isLong;
        p.numbers.borrowingFactor = isLong ? cum.borrowLong : cum.borrowShort;
        p.numbers.fundingFeeAmountPerSize = isLong ? cum.paidLong : cum.paidShort;
        p.numbers.longTokenClaimableFundingAmountPerSize = isLong ? cum.receivedLong : cum.receivedShort;
        p.numbers.shortTokenClaimableFundingAmountPerSize = 0;
    }

    function _validateIncrease(MarketLogic.Ctx memory c, Position.Props memory p, bool isLong) internal view {
        DataStore ds = dataStore;
        uint256 oi = isLong ? c.longOiUsd : c.shortOiUsd;
        uint256 maxOi = ds.getUint(Keys.maxOpenInterestKey(c.market, isLong));
        if (oi > maxOi) revert Errors.MaxOpenInterestExceeded(oi, maxOi);
        uint256 reserved = isLong ? c.longOiTokens * c.indexPrice.max : c.shortOiUsd;
        uint256 maxReserved =
            MarketLogic.applyFactor(MarketLogic.poolUsdMin(c, isLong), ds.getUint(Keys.reserveFactorKey(c.market, isLong)));
        if (reserved > maxReserved) revert Errors.InsufficientReserve(reserved, maxReserved);
        _validatePosition(c, p);
    }

    function _validatePosition(MarketLogic.Ctx memory c, Position.Props memory p) internal view {
        DataStore ds = dataStore;
        if (p.numbers.sizeInUsd == 0 || p.numbers.sizeInTokens == 0) {
            revert Errors.InvalidPositionSizeValues(p.numbers.sizeInUsd, p.numbers.sizeInTokens);
        }
        uint256 minSize = ds.getUint(Keys.MIN_POSITION_SIZE_USD());
        if (p.numbers.sizeInUsd < minSize) revert Errors.MinPositionSize(p.numbers.sizeInUsd, minSize);
        MarketLogic.LiquidationCheck memory r = MarketLogic.checkLiquidation(
            c, p, 0, 0, ds.getUint(Keys.minCollateralFactorKey(c.market)), ds.getUint(Keys.MIN_COLLATERAL_USD())
        );
        if (r.liquidatable) {
            revert Errors.LiquidatablePosition(r.reason, r.remainingCollateralUsd, r.minCollateralUsd, r.minCollateralUsdForLeverage);
        }
    }

    // ---- decrease ----

    function _decrease(bytes32 orderKey, Order.Props memory order, MarketLogic.Ctx memory c, MarketLogic.Cumulative memory cum)
        internal
    {
        PositionExec.Exec memory e;
        e.orderKey = orderKey;
        e.orderType = order.numbers.orderType;
        e.receiver = order.addresses.receiver;
        address collateralToken = order.addresses.initialCollateralToken;
        e.positionKey = Keys.positionKey(order.addresses.account, c.market, collateralToken, order.flags.isLong);
        Position.Props memory p = getPosition(e.positionKey);
        if (p.numbers.sizeInUsd == 0) revert Errors.EmptyPosition();
        e.collateralBefore = p.numbers.collateralAmount;

        uint256 size = p.numbers.sizeInUsd;
        e.sizeDeltaUsd = order.numbers.sizeDeltaUsd > size ? size : order.numbers.sizeDeltaUsd;
        if (e.sizeDeltaUsd < size && size - e.sizeDeltaUsd < dataStore.getUint(Keys.MIN_POSITION_SIZE_USD())) {
            e.sizeDeltaUsd = size;
        }
        _decreaseImpact(e, c, p, order.numbers.acceptablePrice);
        _decreasePnl(e, c, p);
        _fees(e, c, p, cum, collateralToken);

        // everything that settles in the collateral token beyond the withdrawn collateral
        Price.Props memory cp = MarketLogic.collateralPrice(c, collateralToken);
        int256 adjustment = MarketLogic.usdToAmountSigned(e.basePnlUsd, cp)
            + MarketLogic.usdToAmountSigned(e.priceImpactUsd, cp) + int256(e.fundingReceivedAmount)
            - int256(e.positionFeeAmount + e.borrowingFeeAmount + e.fundingFeeAmount);
        (int256 pendingShare,) =
            MarketLogic.proportionalPendingImpact(c, size, p.numbers.pendingImpactAmount, e.sizeDeltaUsd);

        p.numbers.sizeInUsd -= e.sizeDeltaUsd;
        p.numbers.sizeInTokens -= e.sizeDeltaInTokens;
        p.numbers.pendingImpactAmount -= pendingShare;
        _snapshot(p, cum);
        p.numbers.decreasedAtTime = block.timestamp;
        _applyOpenInterest(c, collateralToken, p.flags.isLong, -int256(e.sizeDeltaUsd), -int256(e.sizeDeltaInTokens));
        _applyImpactPool(c, e.priceImpactUsd);

        if (p.numbers.sizeInUsd == 0) {
            int256 out = int256(p.numbers.collateralAmount) + adjustment;
            e.outputAmount = out > 0 ? uint256(out) : 0;
            p.numbers.collateralAmount = 0;
        } else {
            _settlePartial(e, c, p, order.numbers.initialCollateralDeltaAmount, adjustment);
        }
        e.collateralDeltaAmount = int256(e.collateralBefore) - int256(p.numbers.collateralAmount);
        _applyPool(c.market, collateralToken, int256(e.collateralBefore) - int256(p.numbers.collateralAmount) - int256(e.outputAmount));
        MarketToken(payable(c.market)).transferOut(collateralToken, e.receiver, e.outputAmount);

        if (p.numbers.sizeInUsd == 0) _removePosition(e.positionKey, p.addresses.account);
        else _storePosition(e.positionKey, p);
        _emitPositionEvent("PositionDecrease", e, p, c, collateralToken);
        _emitFees(e, c, p, collateralToken, false);
    }

    function _decreaseImpact(PositionExec.Exec memory e, MarketLogic.Ctx memory c, Position.Props memory p, uint256 acceptable) internal pure {
        bool isLong = p.flags.isLong;
        (int256 impactDelta, bool improved) = MarketLogic.priceImpactForPosition(c, -int256(e.sizeDeltaUsd), isLong, false);
        e.balanceWasImproved = improved;
        (int256 total, int256 pendingUsd, uint256 cappedDiff) = MarketLogic.netPriceImpactForDecrease(
            c, p.numbers.sizeInUsd, p.numbers.pendingImpactAmount, impactDelta, e.sizeDeltaUsd
        );
        e.proportionalPendingImpactUsd = pendingUsd;
        e.priceImpactDiffUsd = cappedDiff;
        int256 charged = total + int256(cappedDiff); // the loss beyond the max negative factor is not charged
        if (e.orderType == Order.LIQUIDATION) {
            int256 floor = -int256(MarketLogic.applyFactor(e.sizeDeltaUsd, c.maxImpactForLiquidations));
            if (charged < floor) charged = floor;
        }
        e.priceImpactUsd = charged;
        e.executionPrice = MarketLogic.decreaseExecutionPrice(
            c.indexPrice, p.numbers.sizeInUsd, p.numbers.sizeInTokens, e.sizeDeltaUsd, charged, isLong
        );
        if (e.orderType != Order.LIQUIDATION && (isLong ? e.executionPrice < acceptable : e.executionPrice > acceptable)) {
            revert Errors.OrderNotFulfillableAtAcceptablePrice(e.executionPrice, acceptable);
        }
    }

    function _decreasePnl(PositionExec.Exec memory e, MarketLogic.Ctx memory c, Position.Props memory p) internal pure {
        bool isLong = p.flags.isLong;
        uint256 size = p.numbers.sizeInUsd;
        uint256 tokens = p.numbers.sizeInTokens;
        (int256 pnl, int256 uncapped) =
            MarketLogic.positionPnlUsd(c, size, tokens, isLong ? c.indexPrice.min : c.indexPrice.max, isLong);
        if (e.sizeDeltaUsd == size) e.sizeDeltaInTokens = tokens;
        else if (isLong) e.sizeDeltaInTokens = MarketLogic.roundUpDivision(tokens * e.sizeDeltaUsd, size);
        else e.sizeDeltaInTokens = tokens * e.sizeDeltaUsd / size;
        e.basePnlUsd = pnl * int256(e.sizeDeltaInTokens) / int256(tokens);
        e.uncappedBasePnlUsd = uncapped * int256(e.sizeDeltaInTokens) / int256(tokens);
    }

    /// A partial close: gains go to the output with the withdrawn collateral, costs come out of the
    /// collateral. If the remaining position would fail the collateral checks, the withdrawal is dropped
    /// (GMX does the same); if it still fails, the order fails.
    function _settlePartial(
        PositionExec.Exec memory e,
        MarketLogic.Ctx memory c,
        Position.Props memory p,
        uint256 withdraw,
        int256 adjustment
    ) internal view {
        uint256 collateral = p.numbers.collateralAmount;
        for (uint256 attempt = 0; attempt < 2; attempt++) {
            int256 next = int256(collateral) - int256(withdraw) + (adjustment < 0 ? adjustment : int256(0));
            if (next < 0) revert Errors.InsufficientCollateralAmount(collateral, -int256(withdraw) + adjustment);
            p.numbers.collateralAmount = uint256(next);
            e.outputAmount = withdraw + (adjustment > 0 ? uint256(adjustment) : 0);
            if (attempt == 1 || withdraw == 0 || !_failsChecks(c, p)) break;
            withdraw = 0;
        }
        _validatePosition(c, p);
    }

    function _failsChecks(MarketLogic.Ctx memory c, Position.Props memory p) internal view returns (bool) {
        MarketLogic.LiquidationCheck memory r = MarketLogic.checkLiquidation(
            c, p, 0, 0, dataStore.getUint(Keys.minCollateralFactorKey(c.market)), dataStore.getUint(Keys.MIN_COLLATERAL_USD())
        );
        return r.liquidatable;
    }

    // ---- state ----

    function getPosition(bytes32 key) internal view returns (Position.Props memory p) {
        bytes memory raw = dataStore.getBytes(key);
        if (raw.length != 0) p = abi.decode(raw, (Position.Props));
    }

    function _storePosition(bytes32 key, Position.Props memory p) internal {
        dataStore.setBytes(key, abi.encode(p));
        dataStore.addBytes32(Keys.POSITION_LIST(), key);
        dataStore.addBytes32(Keys.accountPositionListKey(p.addresses.account), key);
    }

    function _removePosition(bytes32 key, address account) internal {
        dataStore.removeBytes(key);
        dataStore.removeBytes32(Keys.POSITION_LIST(), key);
        dataStore.removeBytes32(Keys.accountPositionListKey(account), key);
    }

    function _applyOpenInterest(MarketLogic.Ctx memory c, address collateralToken, bool isLong, int256 usd, int256 tokens)
        internal
    {
        dataStore.applyDeltaToUint(Keys.openInterestKey(c.market, collateralToken, isLong), usd, "OI");
        dataStore.applyDeltaToUint(
            Keys.openInterestInTokensKey(c.market, collateralToken, isLong), tokens, "OI_TOKENS"
        );
        if (isLong) {
            c.longOiUsd = uint256(int256(c.longOiUsd) + usd);
            c.longOiTokens = uint256(int256(c.longOiTokens) + tokens);
        } else {
            c.shortOiUsd = uint256(int256(c.shortOiUsd) + usd);
            c.shortOiTokens = uint256(int256(c.shortOiTokens) + tokens);
        }
    }

    function _applyPool(address market, address token, int256 delta) internal {
        if (delta != 0) dataStore.applyDeltaToUint(Keys.poolAmountKey(market, token), delta, "POOL");
    }

    /// A charged impact grows the impact pool by |impact| / index max; a paid impact shrinks it by
    /// impact / index min rounded up (never below zero).
    function _applyImpactPool(MarketLogic.Ctx memory c, int256 impactUsd) internal {
        if (impactUsd == 0) return;
        bytes32 k = Keys.positionImpactPoolAmountKey(c.market);
        uint256 pool = dataStore.getUint(k);
        if (impactUsd < 0) {
            pool += uint256(-impactUsd) / c.indexPrice.max;
        } else {
            uint256 out = MarketLogic.roundUpDivision(uint256(impactUsd), c.indexPrice.min);
            pool = out > pool ? 0 : pool - out;
        }
        dataStore.setUint(k, pool);
        c.impactPoolAmount = pool;
    }

    function _emitPositionEvent(
        string memory name,
        PositionExec.Exec memory e,
        Position.Props memory p,
        MarketLogic.Ctx memory c,
        address collateralToken
    ) internal {
        positionEvents.emitPositionEvent(name, e, p, c.indexPrice, MarketLogic.collateralPrice(c, collateralToken));
    }

    function _emitFees(PositionExec.Exec memory e, MarketLogic.Ctx memory c, Position.Props memory p, address collateralToken, bool isIncrease)
        internal
    {
        positionEvents.emitFees(e, p, MarketLogic.collateralPrice(c, collateralToken), isIncrease);
    }
}
