// SPDX-License-Identifier: BUSL-1.1
pragma solidity ^0.8.10;

// The Aave v3.6 contracts the mainnet replica places (npm @aave-dao/aave-v3-origin@3.6.0, BUSL-1.1).
// Importing them here makes the `aave` forge profile compile exactly their dependency graph, not the
// whole package (tests, deployment scripts and forge-std stay out).
import {PoolAddressesProvider} from "aave-v3-origin/contracts/protocol/configuration/PoolAddressesProvider.sol";
import {ACLManager} from "aave-v3-origin/contracts/protocol/configuration/ACLManager.sol";
import {PoolInstance} from "aave-v3-origin/contracts/instances/PoolInstance.sol";
import {PoolConfiguratorInstance} from "aave-v3-origin/contracts/instances/PoolConfiguratorInstance.sol";
import {ATokenInstance} from "aave-v3-origin/contracts/instances/ATokenInstance.sol";
import {VariableDebtTokenInstance} from "aave-v3-origin/contracts/instances/VariableDebtTokenInstance.sol";
import {InitializableImmutableAdminUpgradeabilityProxy} from
    "aave-v3-origin/contracts/misc/aave-upgradeability/InitializableImmutableAdminUpgradeabilityProxy.sol";
import {AaveOracle} from "aave-v3-origin/contracts/misc/AaveOracle.sol";
import {DefaultReserveInterestRateStrategyV2} from
    "aave-v3-origin/contracts/misc/DefaultReserveInterestRateStrategyV2.sol";
import {AaveProtocolDataProvider} from "aave-v3-origin/contracts/helpers/AaveProtocolDataProvider.sol";
import {UiPoolDataProviderV3} from "aave-v3-origin/contracts/helpers/UiPoolDataProviderV3.sol";
import {WrappedTokenGatewayV3} from "aave-v3-origin/contracts/helpers/WrappedTokenGatewayV3.sol";
import {LiquidationDataProvider} from "aave-v3-origin/contracts/helpers/LiquidationDataProvider.sol";
