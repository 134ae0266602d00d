// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoleStore, RoleModule} from "./RoleStore.sol";
import {EventEmitter} from "./EventEmitter.sol";
import {EventBuilder} from "./EventBuilder.sol";
import {Position, Price, EventUtils} from "./GmxTypes.sol";

library PositionExec {
    struct Exec {
        bytes32 orderKey;
        bytes32 positionKey;
        uint256 orderType;
        uint256 sizeDeltaUsd;
        uint256 sizeDeltaInTokens;
        int256 collateralDeltaAmount;
        uint256 executionPrice;
        int256 priceImpactUsd;
        int256 priceImpactAmount;
        int256 proportionalPendingImpactUsd;
        uint256 priceImpactDiffUsd;
        int256 basePnlUsd;
        int256 uncappedBasePnlUsd;
        uint256 outputAmount;
        bool balanceWasImproved;
        // fees (collateral token amounts, and USD)
        uint256 positionFeeFactor;
        uint256 positionFeeAmount;
        uint256 borrowingFeeUsd;
        uint256 borrowingFeeAmount;
        uint256 fundingFeeAmount;
        uint256 fundingReceivedAmount;
        uint256 collateralBefore;
        address receiver;
    }
}

/// PositionIncrease / PositionDecrease (EventLog1, topic1 = account) and PositionFeesCollected (EventLog1,
/// topic1 = market), built here to keep the PositionHandler under the contract size limit. CONTROLLER-only.
contract PositionEvents is RoleModule {
    using EventBuilder for EventUtils.EventLogData;

    EventEmitter public immutable eventEmitter;

    constructor(RoleStore _roleStore, EventEmitter _eventEmitter) RoleModule(_roleStore) {
        eventEmitter = _eventEmitter;
    }

    // ---- events (GMX's event names and item keys) ----

    function emitPositionEvent(
        string memory name,
        PositionExec.Exec memory e,
        Position.Props memory p,
        Price.Props memory indexPrice,
        Price.Props memory cp
    ) external onlyController {
        EventUtils.EventLogData memory d = EventBuilder.init(3, 18, 6, 1, 2, 0, 0);
        d.addr(0, "account", p.addresses.account);
        d.addr(1, "market", p.addresses.market);
        d.addr(2, "collateralToken", p.addresses.collateralToken);
        d.u(0, "sizeInUsd", p.numbers.sizeInUsd);
        d.u(1, "sizeInTokens", p.numbers.sizeInTokens);
        d.u(2, "collateralAmount", p.numbers.collateralAmount);
        d.u(3, "borrowingFactor", p.numbers.borrowingFactor);
        d.u(4, "fundingFeeAmountPerSize", p.numbers.fundingFeeAmountPerSize);
        d.u(5, "longTokenClaimableFundingAmountPerSize", p.numbers.longTokenClaimableFundingAmountPerSize);
        d.u(6, "shortTokenClaimableFundingAmountPerSize", p.numbers.shortTokenClaimableFundingAmountPerSize);
        d.u(7, "executionPrice", e.executionPrice);
        d.u(8, "indexTokenPrice.max", indexPrice.max);
        d.u(9, "indexTokenPrice.min", indexPrice.min);
        d.u(10, "collateralTokenPrice.max", cp.max);
        d.u(11, "collateralTokenPrice.min", cp.min);
        d.u(12, "sizeDeltaUsd", e.sizeDeltaUsd);
        d.u(13, "sizeDeltaInTokens", e.sizeDeltaInTokens);
        d.u(14, "orderType", e.orderType);
        d.u(15, "increasedAtTime", p.numbers.increasedAtTime);
        d.u(16, "decreasedAtTime", p.numbers.decreasedAtTime);
        d.u(17, "priceImpactDiffUsd", e.priceImpactDiffUsd);
        d.s(0, "collateralDeltaAmount", e.collateralDeltaAmount);
        d.s(1, "priceImpactUsd", e.priceImpactUsd);
        d.s(2, "priceImpactAmount", e.priceImpactAmount);
        d.s(3, "basePnlUsd", e.basePnlUsd);
        d.s(4, "uncappedBasePnlUsd", e.uncappedBasePnlUsd);
        d.s(5, "proportionalPendingImpactUsd", e.proportionalPendingImpactUsd);
        d.b(0, "isLong", p.flags.isLong);
        d.b32(0, "orderKey", e.orderKey);
        d.b32(1, "positionKey", e.positionKey);
        eventEmitter.emitEventLog1(name, bytes32(uint256(uint160(p.addresses.account))), d);
    }

    function emitFees(PositionExec.Exec memory e, Position.Props memory p, Price.Props memory cp, bool isIncrease)
        external
        onlyController
    {
        EventUtils.EventLogData memory d = EventBuilder.init(3, 11, 0, 1, 2, 0, 0);
        d.addr(0, "market", p.addresses.market);
        d.addr(1, "collateralToken", p.addresses.collateralToken);
        d.addr(2, "trader", p.addresses.account);
        d.u(0, "collateralTokenPrice.min", cp.min);
        d.u(1, "collateralTokenPrice.max", cp.max);
        d.u(2, "tradeSizeUsd", e.sizeDeltaUsd);
        d.u(3, "fundingFeeAmount", e.fundingFeeAmount);
        d.u(4, "claimableFundingAmount", e.fundingReceivedAmount);
        d.u(5, "borrowingFeeUsd", e.borrowingFeeUsd);
        d.u(6, "borrowingFeeAmount", e.borrowingFeeAmount);
        d.u(7, "positionFeeFactor", e.positionFeeFactor);
        d.u(8, "positionFeeAmount", e.positionFeeAmount);
        d.u(9, "feeAmountForPool", e.positionFeeAmount + e.borrowingFeeAmount);
        d.u(10, "totalCostAmount", e.positionFeeAmount + e.borrowingFeeAmount + e.fundingFeeAmount);
        d.b(0, "isIncrease", isIncrease);
        d.b32(0, "orderKey", e.orderKey);
        d.b32(1, "positionKey", e.positionKey);
        eventEmitter.emitEventLog1("PositionFeesCollected", bytes32(uint256(uint160(p.addresses.market))), d);
    }
}
