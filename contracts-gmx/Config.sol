// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoleStore, RoleModule} from "./RoleStore.sol";
import {DataStore} from "./DataStore.sol";
import {MarketToken, IERC20Min} from "./Bank.sol";
import {Keys} from "./Keys.sol";

/// Admin setup for the stand-in (needs CONTROLLER): create markets and write their DataStore parameters.
/// Any CONTROLLER (e.g. the deployer) can also call DataStore.setUint/setBool directly with the GMX keys.
contract Config is RoleModule {
    DataStore public immutable dataStore;

    event MarketCreated(address marketToken, address indexToken, address longToken, address shortToken);

    constructor(RoleStore _roleStore, DataStore _dataStore) RoleModule(_roleStore) {
        dataStore = _dataStore;
    }

    /// Deploys the market's token (it holds pool and collateral) and registers it.
    /// The MarketToken checks its callers' CONTROLLER role in the same RoleStore.
    function createMarket(address indexToken, address longToken, address shortToken)
        external
        onlyController
        returns (address marketToken)
    {
        marketToken = address(new MarketToken(roleStore));
        _register(marketToken, indexToken, longToken, shortToken);
    }

    /// Registers a MarketToken placed elsewhere (the replica puts them at GMX's own GM token addresses).
    function registerMarket(address marketToken, address indexToken, address longToken, address shortToken)
        external
        onlyController
    {
        _register(marketToken, indexToken, longToken, shortToken);
    }

    /// Records the market as GMX's MarketStoreUtils does (MARKET_LIST and
    /// keccak256(abi.encode(marketToken, FIELD)) addresses).
    function _register(address marketToken, address indexToken, address longToken, address shortToken) internal {
        dataStore.addAddress(Keys.MARKET_LIST(), marketToken);
        dataStore.setAddress(Keys.marketField(marketToken, "MARKET_TOKEN"), marketToken);
        dataStore.setAddress(Keys.marketField(marketToken, "INDEX_TOKEN"), indexToken);
        dataStore.setAddress(Keys.marketField(marketToken, "LONG_TOKEN"), longToken);
        dataStore.setAddress(Keys.marketField(marketToken, "SHORT_TOKEN"), shortToken);
        emit MarketCreated(marketToken, indexToken, longToken, shortToken);
    }

    /// Pulls `amount` of `token` from the caller into the market and adds it to POOL_AMOUNT.
    function depositToPool(address market, address token, uint256 amount) external onlyController {
        require(IERC20Min(token).transferFrom(msg.sender, market, amount), "Config: transferFrom failed");
        dataStore.incrementUint(Keys.poolAmountKey(market, token), amount);
    }

    function setUints(bytes32[] calldata keys, uint256[] calldata values) external onlyController {
        require(keys.length == values.length, "Config: length");
        for (uint256 i = 0; i < keys.length; i++) dataStore.setUint(keys[i], values[i]);
    }

    function setOracleProvider(address provider, bool enabled) external onlyController {
        dataStore.setBool(Keys.isOracleProviderEnabledKey(provider), enabled);
    }
}
