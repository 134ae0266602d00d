// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// DataStore keys derived as GMX derives them: a base key is keccak256(abi.encode("NAME")), a keyed value
/// keccak256(abi.encode(base, args...)) (the SDK's configs/dataStore hashString / hashData).
library Keys {
    function h(string memory name) internal pure returns (bytes32) {
        return keccak256(abi.encode(name));
    }

    // roles (RoleStore): keccak256(abi.encode("ROLE"))
    function CONTROLLER() internal pure returns (bytes32) { return h("CONTROLLER"); }
    function ORDER_KEEPER() internal pure returns (bytes32) { return h("ORDER_KEEPER"); }
    function LIQUIDATION_KEEPER() internal pure returns (bytes32) { return h("LIQUIDATION_KEEPER"); }
    function ROUTER_PLUGIN() internal pure returns (bytes32) { return h("ROUTER_PLUGIN"); }

    // lists
    function MARKET_LIST() internal pure returns (bytes32) { return h("MARKET_LIST"); }
    function POSITION_LIST() internal pure returns (bytes32) { return h("POSITION_LIST"); }
    function ORDER_LIST() internal pure returns (bytes32) { return h("ORDER_LIST"); }
    function NONCE() internal pure returns (bytes32) { return h("NONCE"); }
    function WNT() internal pure returns (bytes32) { return h("WNT"); }

    function accountPositionListKey(address account) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("ACCOUNT_POSITION_LIST"), account));
    }

    function accountOrderListKey(address account) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("ACCOUNT_ORDER_LIST"), account));
    }

    function autoCancelOrderListKey(bytes32 positionKey_) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("AUTO_CANCEL_ORDER_LIST"), positionKey_));
    }

    function MAX_AUTO_CANCEL_ORDERS() internal pure returns (bytes32) { return h("MAX_AUTO_CANCEL_ORDERS"); }

    // market props (as GMX's MarketStoreUtils: keccak256(abi.encode(marketToken, FIELD)))
    function marketField(address marketToken, string memory field) internal pure returns (bytes32) {
        return keccak256(abi.encode(marketToken, h(field)));
    }

    function positionKey(address account, address market, address collateralToken, bool isLong)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(account, market, collateralToken, isLong));
    }

    function orderKey(address dataStore, uint256 nonce) internal pure returns (bytes32) {
        return keccak256(abi.encode(dataStore, nonce));
    }

    // oracle
    function isOracleProviderEnabledKey(address provider) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("IS_ORACLE_PROVIDER_ENABLED"), provider));
    }

    // market parameters
    function positionFeeFactorKey(address market, bool balanceWasImproved) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("POSITION_FEE_FACTOR"), market, balanceWasImproved));
    }

    function positionImpactFactorKey(address market, bool isPositive) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("POSITION_IMPACT_FACTOR"), market, isPositive));
    }

    function positionImpactExponentFactorKey(address market, bool isPositive) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("POSITION_IMPACT_EXPONENT_FACTOR"), market, isPositive));
    }

    function maxPositionImpactFactorKey(address market, bool isPositive) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("MAX_POSITION_IMPACT_FACTOR"), market, isPositive));
    }

    function maxPositionImpactFactorForLiquidationsKey(address market) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("MAX_POSITION_IMPACT_FACTOR_FOR_LIQUIDATIONS"), market));
    }

    function positionImpactPoolAmountKey(address market) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("POSITION_IMPACT_POOL_AMOUNT"), market));
    }

    function minCollateralFactorKey(address market) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("MIN_COLLATERAL_FACTOR"), market));
    }

    function minCollateralFactorForLiquidationKey(address market) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("MIN_COLLATERAL_FACTOR_FOR_LIQUIDATION"), market));
    }

    function MIN_COLLATERAL_USD() internal pure returns (bytes32) { return h("MIN_COLLATERAL_USD"); }
    function MIN_POSITION_SIZE_USD() internal pure returns (bytes32) { return h("MIN_POSITION_SIZE_USD"); }
    function ESTIMATED_GAS_FEE_BASE_AMOUNT_V2_1() internal pure returns (bytes32) {
        return h("ESTIMATED_GAS_FEE_BASE_AMOUNT_V2_1");
    }

    function maxPnlFactorKey(bytes32 pnlFactorType, address market, bool isLong) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("MAX_PNL_FACTOR"), pnlFactorType, market, isLong));
    }

    function MAX_PNL_FACTOR_FOR_TRADERS() internal pure returns (bytes32) { return h("MAX_PNL_FACTOR_FOR_TRADERS"); }

    function useOpenInterestInTokensForBalanceKey(address market) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("USE_OPEN_INTEREST_IN_TOKENS_FOR_BALANCE"), market));
    }

    function virtualTokenIdKey(address token) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("VIRTUAL_TOKEN_ID"), token));
    }

    function virtualInventoryForPositionsKey(bytes32 virtualTokenId) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("VIRTUAL_INVENTORY_FOR_POSITIONS"), virtualTokenId));
    }

    function openInterestKey(address market, address collateralToken, bool isLong) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("OPEN_INTEREST"), market, collateralToken, isLong));
    }

    function openInterestInTokensKey(address market, address collateralToken, bool isLong)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(h("OPEN_INTEREST_IN_TOKENS"), market, collateralToken, isLong));
    }

    function maxOpenInterestKey(address market, bool isLong) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("MAX_OPEN_INTEREST"), market, isLong));
    }

    function poolAmountKey(address market, address token) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("POOL_AMOUNT"), market, token));
    }

    function reserveFactorKey(address market, bool isLong) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("RESERVE_FACTOR"), market, isLong));
    }

    function borrowingFactorKey(address market, bool isLong) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("BORROWING_FACTOR"), market, isLong));
    }

    function borrowingExponentFactorKey(address market, bool isLong) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("BORROWING_EXPONENT_FACTOR"), market, isLong));
    }

    function cumulativeBorrowingFactorKey(address market, bool isLong) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("CUMULATIVE_BORROWING_FACTOR"), market, isLong));
    }

    function cumulativeBorrowingFactorUpdatedAtKey(address market, bool isLong) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("CUMULATIVE_BORROWING_FACTOR_UPDATED_AT"), market, isLong));
    }

    function fundingFactorKey(address market) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("FUNDING_FACTOR"), market));
    }

    function fundingExponentFactorKey(address market) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("FUNDING_EXPONENT_FACTOR"), market));
    }

    function fundingUpdatedAtKey(address market) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("FUNDING_UPDATED_AT"), market));
    }

    /// Stand-in: the side's cumulative funding PAID, a USD factor (1e30) per USD of size. GMX keys this
    /// per collateral token and counts it in token amounts per size.
    function fundingFeeAmountPerSizeKey(address market, bool isLong) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("FUNDING_FEE_AMOUNT_PER_SIZE"), market, isLong));
    }

    /// Stand-in: the side's cumulative funding RECEIVED, a USD factor (1e30) per USD of size.
    function claimableFundingAmountPerSizeKey(address market, bool isLong) internal pure returns (bytes32) {
        return keccak256(abi.encode(h("CLAIMABLE_FUNDING_AMOUNT_PER_SIZE"), market, isLong));
    }
}
