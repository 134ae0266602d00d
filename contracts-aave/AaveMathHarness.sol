// SPDX-License-Identifier: BUSL-1.1
pragma solidity ^0.8.10;

// Test-only harness: exposes the Aave v3.6 math libraries and the real DefaultReserveInterestRateStrategyV2
// as external functions, so the pure Python model (defibots.protocols.aave_v3) can be compared with
// the contracts through eth_call. Never deployed outside a test anvil.
import {WadRayMath} from "aave-v3-origin/contracts/protocol/libraries/math/WadRayMath.sol";
import {PercentageMath} from "aave-v3-origin/contracts/protocol/libraries/math/PercentageMath.sol";
import {MathUtils} from "aave-v3-origin/contracts/protocol/libraries/math/MathUtils.sol";
import {DataTypes} from "aave-v3-origin/contracts/protocol/libraries/types/DataTypes.sol";
import {GenericLogic} from "aave-v3-origin/contracts/protocol/libraries/logic/GenericLogic.sol";
import {LiquidationLogic} from "aave-v3-origin/contracts/protocol/libraries/logic/LiquidationLogic.sol";
import {IERC20} from "aave-v3-origin/contracts/dependencies/openzeppelin/contracts/IERC20.sol";
import {DefaultReserveInterestRateStrategyV2} from
    "aave-v3-origin/contracts/misc/DefaultReserveInterestRateStrategyV2.sol";

contract AaveMathHarness is DefaultReserveInterestRateStrategyV2 {
    constructor() DefaultReserveInterestRateStrategyV2(address(1)) {}

    /// @dev Thousands of cases in one eth_call: each call's success flag and return or revert data.
    function multicall(bytes[] calldata calls) external returns (bool[] memory ok, bytes[] memory results) {
        ok = new bool[](calls.length);
        results = new bytes[](calls.length);
        for (uint256 i = 0; i < calls.length; i++) {
            (ok[i], results[i]) = address(this).call(calls[i]);
        }
    }

    function wadMul(uint256 a, uint256 b) external pure returns (uint256) {
        return WadRayMath.wadMul(a, b);
    }

    function wadDiv(uint256 a, uint256 b) external pure returns (uint256) {
        return WadRayMath.wadDiv(a, b);
    }

    function rayMul(uint256 a, uint256 b) external pure returns (uint256) {
        return WadRayMath.rayMul(a, b);
    }

    function rayMulFloor(uint256 a, uint256 b) external pure returns (uint256) {
        return WadRayMath.rayMulFloor(a, b);
    }

    function rayMulCeil(uint256 a, uint256 b) external pure returns (uint256) {
        return WadRayMath.rayMulCeil(a, b);
    }

    function rayDiv(uint256 a, uint256 b) external pure returns (uint256) {
        return WadRayMath.rayDiv(a, b);
    }

    function rayDivFloor(uint256 a, uint256 b) external pure returns (uint256) {
        return WadRayMath.rayDivFloor(a, b);
    }

    function rayDivCeil(uint256 a, uint256 b) external pure returns (uint256) {
        return WadRayMath.rayDivCeil(a, b);
    }

    function rayToWad(uint256 a) external pure returns (uint256) {
        return WadRayMath.rayToWad(a);
    }

    function wadToRay(uint256 a) external pure returns (uint256) {
        return WadRayMath.wadToRay(a);
    }

    function percentMul(uint256 value, uint256 percentage) external pure returns (uint256) {
        return PercentageMath.percentMul(value, percentage);
    }

    function percentMulCeil(uint256 value, uint256 percentage) external pure returns (uint256) {
        return PercentageMath.percentMulCeil(value, percentage);
    }

    function percentMulFloor(uint256 value, uint256 percentage) external pure returns (uint256) {
        return PercentageMath.percentMulFloor(value, percentage);
    }

    function percentDiv(uint256 value, uint256 percentage) external pure returns (uint256) {
        return PercentageMath.percentDiv(value, percentage);
    }

    function percentDivCeil(uint256 value, uint256 percentage) external pure returns (uint256) {
        return PercentageMath.percentDivCeil(value, percentage);
    }

    function mulDivCeil(uint256 a, uint256 b, uint256 c) external pure returns (uint256) {
        return MathUtils.mulDivCeil(a, b, c);
    }

    /// @dev MathUtils reads block.timestamp: returned too, so the model can use the same clock.
    function linearInterest(uint256 rate, uint40 lastUpdateTimestamp) external view returns (uint256, uint256) {
        return (MathUtils.calculateLinearInterest(rate, lastUpdateTimestamp), block.timestamp);
    }

    function compoundedInterest(uint256 rate, uint40 lastUpdateTimestamp, uint256 currentTimestamp)
        external
        pure
        returns (uint256)
    {
        return MathUtils.calculateCompoundedInterest(rate, lastUpdateTimestamp, currentTimestamp);
    }

    /// @dev Stores the curve unvalidated (no configurator here), then runs the real strategy code.
    function interestRates(InterestRateData calldata data, DataTypes.CalculateInterestRatesParams calldata params)
        external
        returns (uint256, uint256)
    {
        _interestRateData[params.reserve] = data;
        return this.calculateInterestRates(params);
    }

    function availableBorrows(uint256 collateral, uint256 debt, uint256 ltv) external pure returns (uint256) {
        return GenericLogic.calculateAvailableBorrows(collateral, debt, ltv);
    }

    function availableCollateralToLiquidate(
        uint256 configuration,
        uint256 collateralPrice,
        uint256 collateralUnit,
        uint256 debtPrice,
        uint256 debtUnit,
        uint256 debtToCover,
        uint256 collateralBalance,
        uint256 liquidationBonus
    ) external pure returns (uint256, uint256, uint256, uint256) {
        return LiquidationLogic._calculateAvailableCollateralToLiquidate(
            DataTypes.ReserveConfigurationMap({data: configuration}),
            collateralPrice,
            collateralUnit,
            debtPrice,
            debtUnit,
            debtToCover,
            collateralBalance,
            liquidationBonus
        );
    }
}

/// Test-only flashLoanSimple receiver: records the premium and lets the Pool pull amount + premium back
/// (it must already hold the premium).
contract AaveFlashLoanReceiverHarness {
    address public immutable POOL;
    uint256 public lastPremium;

    constructor(address pool) {
        POOL = pool;
    }

    function executeOperation(address asset, uint256 amount, uint256 premium, address, bytes calldata)
        external
        returns (bool)
    {
        require(msg.sender == POOL, "only the pool");
        lastPremium = premium;
        IERC20(asset).approve(POOL, amount + premium);
        return true;
    }
}
