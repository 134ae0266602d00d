// SPDX-License-Identifier: GPL-2.0-or-later
pragma solidity =0.7.6;

// External wrappers around the real Uniswap V3 core libraries (v3-core 1.0.1, compiled with 0.7.6 as
// deployed), so the Python models in src/defibots/protocols/uniswap_v3/ can be checked call by call
// against the contract code through eth_call.

import "@uniswap/v3-core/contracts/libraries/FullMath.sol";
import "@uniswap/v3-core/contracts/libraries/TickMath.sol";
import "@uniswap/v3-core/contracts/libraries/SqrtPriceMath.sol";
import "@uniswap/v3-core/contracts/libraries/SwapMath.sol";
import "@uniswap/v3-core/contracts/libraries/LiquidityMath.sol";
import "@uniswap/v3-core/contracts/libraries/TickBitmap.sol";
import "@uniswap/v3-core/contracts/libraries/Tick.sol";

contract V3MathHarness {
    using TickBitmap for mapping(int16 => uint256);

    mapping(int16 => uint256) internal bitmap;

    function mulDiv(uint256 a, uint256 b, uint256 denominator) external pure returns (uint256) {
        return FullMath.mulDiv(a, b, denominator);
    }

    function mulDivRoundingUp(uint256 a, uint256 b, uint256 denominator) external pure returns (uint256) {
        return FullMath.mulDivRoundingUp(a, b, denominator);
    }

    function getSqrtRatioAtTick(int24 tick) external pure returns (uint160) {
        return TickMath.getSqrtRatioAtTick(tick);
    }

    function getTickAtSqrtRatio(uint160 sqrtPriceX96) external pure returns (int24) {
        return TickMath.getTickAtSqrtRatio(sqrtPriceX96);
    }

    function getNextSqrtPriceFromAmount0RoundingUp(uint160 sqrtPX96, uint128 liquidity, uint256 amount, bool add)
        external
        pure
        returns (uint160)
    {
        return SqrtPriceMath.getNextSqrtPriceFromAmount0RoundingUp(sqrtPX96, liquidity, amount, add);
    }

    function getNextSqrtPriceFromAmount1RoundingDown(uint160 sqrtPX96, uint128 liquidity, uint256 amount, bool add)
        external
        pure
        returns (uint160)
    {
        return SqrtPriceMath.getNextSqrtPriceFromAmount1RoundingDown(sqrtPX96, liquidity, amount, add);
    }

    function getNextSqrtPriceFromInput(uint160 sqrtPX96, uint128 liquidity, uint256 amountIn, bool zeroForOne)
        external
        pure
        returns (uint160)
    {
        return SqrtPriceMath.getNextSqrtPriceFromInput(sqrtPX96, liquidity, amountIn, zeroForOne);
    }

    function getNextSqrtPriceFromOutput(uint160 sqrtPX96, uint128 liquidity, uint256 amountOut, bool zeroForOne)
        external
        pure
        returns (uint160)
    {
        return SqrtPriceMath.getNextSqrtPriceFromOutput(sqrtPX96, liquidity, amountOut, zeroForOne);
    }

    function getAmount0Delta(uint160 sqrtRatioAX96, uint160 sqrtRatioBX96, uint128 liquidity, bool roundUp)
        external
        pure
        returns (uint256)
    {
        return SqrtPriceMath.getAmount0Delta(sqrtRatioAX96, sqrtRatioBX96, liquidity, roundUp);
    }

    function getAmount1Delta(uint160 sqrtRatioAX96, uint160 sqrtRatioBX96, uint128 liquidity, bool roundUp)
        external
        pure
        returns (uint256)
    {
        return SqrtPriceMath.getAmount1Delta(sqrtRatioAX96, sqrtRatioBX96, liquidity, roundUp);
    }

    function getAmount0DeltaSigned(uint160 sqrtRatioAX96, uint160 sqrtRatioBX96, int128 liquidity)
        external
        pure
        returns (int256)
    {
        return SqrtPriceMath.getAmount0Delta(sqrtRatioAX96, sqrtRatioBX96, liquidity);
    }

    function getAmount1DeltaSigned(uint160 sqrtRatioAX96, uint160 sqrtRatioBX96, int128 liquidity)
        external
        pure
        returns (int256)
    {
        return SqrtPriceMath.getAmount1Delta(sqrtRatioAX96, sqrtRatioBX96, liquidity);
    }

    function computeSwapStep(
        uint160 sqrtRatioCurrentX96,
        uint160 sqrtRatioTargetX96,
        uint128 liquidity,
        int256 amountRemaining,
        uint24 feePips
    )
        external
        pure
        returns (
            uint160 sqrtRatioNextX96,
            uint256 amountIn,
            uint256 amountOut,
            uint256 feeAmount
        )
    {
        return SwapMath.computeSwapStep(sqrtRatioCurrentX96, sqrtRatioTargetX96, liquidity, amountRemaining, feePips);
    }

    function addDelta(uint128 x, int128 y) external pure returns (uint128) {
        return LiquidityMath.addDelta(x, y);
    }

    function tickSpacingToMaxLiquidityPerTick(int24 tickSpacing) external pure returns (uint128) {
        return Tick.tickSpacingToMaxLiquidityPerTick(tickSpacing);
    }

    /// Flips `flips` (in order) on an empty bitmap, then looks up the next initialized tick from `tick`.
    /// Meant for eth_call: the storage writes are thrown away with the call.
    function flipThenNextInitializedTick(int24[] calldata flips, int24 tickSpacing, int24 tick, bool lte)
        external
        returns (int24 next, bool initialized)
    {
        for (uint256 i = 0; i < flips.length; i++) {
            bitmap.flipTick(flips[i], tickSpacing);
        }
        return bitmap.nextInitializedTickWithinOneWord(tick, tickSpacing, lte);
    }

    /// Flips `flips` (in order) on an empty bitmap and returns the words at `wordPositions`.
    function flipTicks(int24[] calldata flips, int24 tickSpacing, int16[] calldata wordPositions)
        external
        returns (uint256[] memory words)
    {
        for (uint256 i = 0; i < flips.length; i++) {
            bitmap.flipTick(flips[i], tickSpacing);
        }
        words = new uint256[](wordPositions.length);
        for (uint256 i = 0; i < wordPositions.length; i++) {
            words[i] = bitmap[wordPositions[i]];
        }
    }
}
