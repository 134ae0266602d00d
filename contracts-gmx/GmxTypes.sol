// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// GMX V2 (v2.2) stand-in: the structs, enums and errors whose ABI the SDK (@gmx-io/sdk 1.4.0) encodes.
// Written from the SDK's ABIs; field order is ABI-relevant and must not change.

library Market {
    struct Props {
        address marketToken;
        address indexToken;
        address longToken;
        address shortToken;
    }
}

library Price {
    struct Props {
        uint256 min;
        uint256 max;
    }
}

library MarketUtils {
    struct MarketPrices {
        Price.Props indexTokenPrice;
        Price.Props longTokenPrice;
        Price.Props shortTokenPrice;
    }
}

library Position {
    struct Props {
        Addresses addresses;
        Numbers numbers;
        Flags flags;
    }

    struct Addresses {
        address account;
        address market;
        address collateralToken;
    }

    struct Numbers {
        uint256 sizeInUsd;
        uint256 sizeInTokens;
        uint256 collateralAmount;
        int256 pendingImpactAmount;
        uint256 borrowingFactor;
        uint256 fundingFeeAmountPerSize;
        uint256 longTokenClaimableFundingAmountPerSize;
        uint256 shortTokenClaimableFundingAmountPerSize;
        uint256 increasedAtTime;
        uint256 decreasedAtTime;
    }

    struct Flags {
        bool isLong;
    }
}

library Order {
    // OrderType values as GMX numbers them.
    uint256 internal constant MARKET_SWAP = 0;
    uint256 internal constant LIMIT_SWAP = 1;
    uint256 internal constant MARKET_INCREASE = 2;
    uint256 internal constant LIMIT_INCREASE = 3;
    uint256 internal constant MARKET_DECREASE = 4;
    uint256 internal constant LIMIT_DECREASE = 5;
    uint256 internal constant STOP_LOSS_DECREASE = 6;
    uint256 internal constant LIQUIDATION = 7;
    uint256 internal constant STOP_INCREASE = 8;

    struct Props {
        Addresses addresses;
        Numbers numbers;
        Flags flags;
        bytes32[] _dataList;
    }

    struct Addresses {
        address account;
        address receiver;
        address cancellationReceiver;
        address callbackContract;
        address uiFeeReceiver;
        address market;
        address initialCollateralToken;
        address[] swapPath;
    }

    struct Numbers {
        uint8 orderType;
        uint8 decreasePositionSwapType;
        uint256 sizeDeltaUsd;
        uint256 initialCollateralDeltaAmount;
        uint256 triggerPrice;
        uint256 acceptablePrice;
        uint256 executionFee;
        uint256 callbackGasLimit;
        uint256 minOutputAmount;
        uint256 updatedAtTime;
        uint256 validFromTime;
        uint256 srcChainId;
    }

    struct Flags {
        bool isLong;
        bool shouldUnwrapNativeToken;
        bool isFrozen;
        bool autoCancel;
    }

    function isIncrease(uint256 t) internal pure returns (bool) {
        return t == MARKET_INCREASE || t == LIMIT_INCREASE || t == STOP_INCREASE;
    }

    function isDecrease(uint256 t) internal pure returns (bool) {
        return t == MARKET_DECREASE || t == LIMIT_DECREASE || t == STOP_LOSS_DECREASE || t == LIQUIDATION;
    }

    function isMarket(uint256 t) internal pure returns (bool) {
        return t == MARKET_SWAP || t == MARKET_INCREASE || t == MARKET_DECREASE || t == LIQUIDATION;
    }
}

library IBaseOrderUtils {
    struct CreateOrderParams {
        CreateOrderParamsAddresses addresses;
        CreateOrderParamsNumbers numbers;
        uint8 orderType;
        uint8 decreasePositionSwapType;
        bool isLong;
        bool shouldUnwrapNativeToken;
        bool autoCancel;
        bytes32 referralCode;
        bytes32[] dataList;
    }

    // v2.1 encoding (selector 0x6996807b): the same without dataList.
    struct CreateOrderParamsV21 {
        CreateOrderParamsAddresses addresses;
        CreateOrderParamsNumbers numbers;
        uint8 orderType;
        uint8 decreasePositionSwapType;
        bool isLong;
        bool shouldUnwrapNativeToken;
        bool autoCancel;
        bytes32 referralCode;
    }

    struct CreateOrderParamsAddresses {
        address receiver;
        address cancellationReceiver;
        address callbackContract;
        address uiFeeReceiver;
        address market;
        address initialCollateralToken;
        address[] swapPath;
    }

    struct CreateOrderParamsNumbers {
        uint256 sizeDeltaUsd;
        uint256 initialCollateralDeltaAmount;
        uint256 triggerPrice;
        uint256 acceptablePrice;
        uint256 executionFee;
        uint256 callbackGasLimit;
        uint256 minOutputAmount;
        uint256 validFromTime;
    }
}

library OracleUtils {
    // Stand-in: data[i] = abi.encode(uint256 minPrice, uint256 maxPrice) for tokens[i], and providers[i]
    // must be enabled in the DataStore (IS_ORACLE_PROVIDER_ENABLED). Real GMX verifies signed reports.
    struct SetPricesParams {
        address[] tokens;
        address[] providers;
        bytes[] data;
    }
}

library PositionPricingUtils {
    struct PositionFees {
        PositionReferralFees referral;
        PositionProFees pro;
        PositionFundingFees funding;
        PositionBorrowingFees borrowing;
        PositionUiFees ui;
        PositionLiquidationFees liquidation;
        Price.Props collateralTokenPrice;
        uint256 positionFeeFactor;
        uint256 protocolFeeAmount;
        uint256 positionFeeReceiverFactor;
        uint256 feeReceiverAmount;
        uint256 feeAmountForPool;
        uint256 positionFeeAmountForPool;
        uint256 positionFeeAmount;
        uint256 totalCostAmountExcludingFunding;
        uint256 totalCostAmount;
        uint256 totalDiscountAmount;
    }

    struct PositionReferralFees {
        bytes32 referralCode;
        address affiliate;
        address trader;
        uint256 totalRebateFactor;
        uint256 affiliateRewardFactor;
        uint256 adjustedAffiliateRewardFactor;
        uint256 traderDiscountFactor;
        uint256 totalRebateAmount;
        uint256 traderDiscountAmount;
        uint256 affiliateRewardAmount;
    }

    struct PositionProFees {
        uint256 traderTier;
        uint256 traderDiscountFactor;
        uint256 traderDiscountAmount;
    }

    struct PositionFundingFees {
        uint256 fundingFeeAmount;
        uint256 claimableLongTokenAmount;
        uint256 claimableShortTokenAmount;
        uint256 latestFundingFeeAmountPerSize;
        uint256 latestLongTokenClaimableFundingAmountPerSize;
        uint256 latestShortTokenClaimableFundingAmountPerSize;
    }

    struct PositionBorrowingFees {
        uint256 borrowingFeeUsd;
        uint256 borrowingFeeAmount;
        uint256 borrowingFeeReceiverFactor;
        uint256 borrowingFeeAmountForFeeReceiver;
    }

    struct PositionUiFees {
        address uiFeeReceiver;
        uint256 uiFeeReceiverFactor;
        uint256 uiFeeAmount;
    }

    struct PositionLiquidationFees {
        uint256 liquidationFeeUsd;
        uint256 liquidationFeeAmount;
        uint256 liquidationFeeReceiverFactor;
        uint256 liquidationFeeAmountForFeeReceiver;
    }
}

library ReaderPricingUtils {
    struct ExecutionPriceResult {
        int256 priceImpactUsd;
        uint256 executionPrice;
        bool balanceWasImproved;
        int256 proportionalPendingImpactUsd;
        int256 totalImpactUsd;
        uint256 priceImpactDiffUsd;
    }
}

library ReaderPositionUtils {
    struct PositionInfo {
        bytes32 positionKey;
        Position.Props position;
        PositionPricingUtils.PositionFees fees;
        ReaderPricingUtils.ExecutionPriceResult executionPriceResult;
        int256 basePnlUsd;
        int256 uncappedBasePnlUsd;
        int256 pnlAfterPriceImpactUsd;
    }
}

library ReaderUtils {
    struct OrderInfo {
        bytes32 orderKey;
        Order.Props order;
    }
}

library EventUtils {
    struct EventLogData {
        AddressItems addressItems;
        UintItems uintItems;
        IntItems intItems;
        BoolItems boolItems;
        Bytes32Items bytes32Items;
        BytesItems bytesItems;
        StringItems stringItems;
    }

    struct AddressItems {
        AddressKeyValue[] items;
        AddressArrayKeyValue[] arrayItems;
    }

    struct UintItems {
        UintKeyValue[] items;
        UintArrayKeyValue[] arrayItems;
    }

    struct IntItems {
        IntKeyValue[] items;
        IntArrayKeyValue[] arrayItems;
    }

    struct BoolItems {
        BoolKeyValue[] items;
        BoolArrayKeyValue[] arrayItems;
    }

    struct Bytes32Items {
        Bytes32KeyValue[] items;
        Bytes32ArrayKeyValue[] arrayItems;
    }

    struct BytesItems {
        BytesKeyValue[] items;
        BytesArrayKeyValue[] arrayItems;
    }

    struct StringItems {
        StringKeyValue[] items;
        StringArrayKeyValue[] arrayItems;
    }

    struct AddressKeyValue {
        string key;
        address value;
    }

    struct AddressArrayKeyValue {
        string key;
        address[] value;
    }

    struct UintKeyValue {
        string key;
        uint256 value;
    }

    struct UintArrayKeyValue {
        string key;
        uint256[] value;
    }

    struct IntKeyValue {
        string key;
        int256 value;
    }

    struct IntArrayKeyValue {
        string key;
        int256[] value;
    }

    struct BoolKeyValue {
        string key;
        bool value;
    }

    struct BoolArrayKeyValue {
        string key;
        bool[] value;
    }

    struct Bytes32KeyValue {
        string key;
        bytes32 value;
    }

    struct Bytes32ArrayKeyValue {
        string key;
        bytes32[] value;
    }

    struct BytesKeyValue {
        string key;
        bytes value;
    }

    struct BytesArrayKeyValue {
        string key;
        bytes[] value;
    }

    struct StringKeyValue {
        string key;
        string value;
    }

    struct StringArrayKeyValue {
        string key;
        string[] value;
    }
}

/// The custom errors the stand-in raises, with GMX's signatures (selectors equal the SDK's CustomErrors).
library Errors {
    error Unauthorized(address msgSender, string role);
    error EmptyOrder();
    error MaxAutoCancelOrdersExceeded(uint256 count, uint256 maxAutoCancelOrders);
    error EmptyPosition();
    error EmptyMarket();
    error EmptyReceiver();
    error EmptyPrimaryPrice(address token);
    error InvalidOracleProvider(address provider);
    error InvalidOracleSetPricesProvidersParam(uint256 tokensLength, uint256 providersLength);
    error InvalidPositionMarket(address market);
    error InvalidCollateralTokenForMarket(address market, address token);
    error InsufficientWntAmountForExecutionFee(uint256 wntAmount, uint256 executionFee);
    error UnsupportedOrderType(uint256 orderType);
    error OrderTypeCannotBeCreated(uint256 orderType);
    error OrderNotUpdatable(uint256 orderType);
    error OrderValidFromTimeNotReached(uint256 validFromTime, uint256 currentTimestamp);
    error InvalidOrderPrices(uint256 primaryPriceMin, uint256 primaryPriceMax, uint256 triggerPrice, uint256 orderType);
    error OrderNotFulfillableAtAcceptablePrice(uint256 price, uint256 acceptablePrice);
    error PriceImpactLargerThanOrderSize(int256 priceImpactUsd, uint256 sizeDeltaUsd);
    error NegativeExecutionPrice(int256 executionPrice, uint256 price, uint256 positionSizeInUsd, int256 priceImpactUsd, uint256 sizeDeltaUsd);
    error InsufficientCollateralAmount(uint256 collateralAmount, int256 collateralDeltaAmount);
    error InsufficientCollateralUsd(int256 remainingCollateralUsd);
    error LiquidatablePosition(string reason, int256 remainingCollateralUsd, int256 minCollateralUsd, int256 minCollateralUsdForLeverage);
    error PositionShouldNotBeLiquidated(string reason, int256 remainingCollateralUsd, int256 minCollateralUsd, int256 minCollateralUsdForLeverage);
    error MaxOpenInterestExceeded(uint256 openInterest, uint256 maxOpenInterest);
    error InsufficientReserve(uint256 reservedUsd, uint256 maxReservedUsd);
    error MinPositionSize(uint256 positionSizeInUsd, uint256 minPositionSizeUsd);
    error InvalidPositionSizeValues(uint256 sizeInUsd, uint256 sizeInTokens);
    error InvalidKeeperForFrozenOrder(address keeper);
    // stand-in only (not GMX errors)
    error SwapPathNotSupported();
    error UnsupportedImpactExponent(uint256 exponentFactor);
}
