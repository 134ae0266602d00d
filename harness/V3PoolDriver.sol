// SPDX-License-Identifier: GPL-2.0-or-later
pragma solidity =0.7.6;
pragma abicoder v2;

// Drives a real UniswapV3Pool (npm v3-core 1.0.1 bytecode, deployed through its factory on anvil) so the
// Python pool model can be compared swap by swap. Swaps are meant for eth_call: the result comes back
// with the pool's state after the swap, and nothing persists.

import "@uniswap/v3-core/contracts/interfaces/IUniswapV3Pool.sol";
import "@uniswap/v3-core/contracts/interfaces/callback/IUniswapV3MintCallback.sol";
import "@uniswap/v3-core/contracts/interfaces/callback/IUniswapV3SwapCallback.sol";

contract HarnessToken {
    mapping(address => uint256) public balanceOf;

    constructor(uint256 supply) {
        balanceOf[msg.sender] = supply;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        require(balanceOf[msg.sender] >= amount, "balance");
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
        return true;
    }
}

contract V3PoolDriver is IUniswapV3MintCallback, IUniswapV3SwapCallback {
    address public immutable token0;
    address public immutable token1;

    struct SwapOutcome {
        int256 amount0;
        int256 amount1;
        uint160 sqrtPriceX96;
        int24 tick;
        uint128 liquidity;
    }

    constructor() {
        address a = address(new HarnessToken(type(uint256).max));
        address b = address(new HarnessToken(type(uint256).max));
        (token0, token1) = a < b ? (a, b) : (b, a);
    }

    function mint(address pool, int24 tickLower, int24 tickUpper, uint128 amount)
        external
        returns (uint256 amount0, uint256 amount1)
    {
        return IUniswapV3Pool(pool).mint(address(this), tickLower, tickUpper, amount, "");
    }

    function burn(address pool, int24 tickLower, int24 tickUpper, uint128 amount)
        external
        returns (uint256 amount0, uint256 amount1)
    {
        return IUniswapV3Pool(pool).burn(tickLower, tickUpper, amount);
    }

    function swap(address pool, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96)
        public
        returns (SwapOutcome memory outcome)
    {
        (outcome.amount0, outcome.amount1) =
            IUniswapV3Pool(pool).swap(address(this), zeroForOne, amountSpecified, sqrtPriceLimitX96, "");
        (outcome.sqrtPriceX96, outcome.tick, , , , , ) = IUniswapV3Pool(pool).slot0();
        outcome.liquidity = IUniswapV3Pool(pool).liquidity();
    }

    function uniswapV3MintCallback(uint256 amount0Owed, uint256 amount1Owed, bytes calldata) external override {
        if (amount0Owed > 0) HarnessToken(token0).transfer(msg.sender, amount0Owed);
        if (amount1Owed > 0) HarnessToken(token1).transfer(msg.sender, amount1Owed);
    }

    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata) external override {
        if (amount0Delta > 0) HarnessToken(token0).transfer(msg.sender, uint256(amount0Delta));
        if (amount1Delta > 0) HarnessToken(token1).transfer(msg.sender, uint256(amount1Delta));
    }
}
