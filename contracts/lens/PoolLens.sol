// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IUniswapV3PoolState {
    function slot0() external view returns (uint160, int24, uint16, uint16, uint16, uint8, bool);
    function liquidity() external view returns (uint128);
    function fee() external view returns (uint24);
    function tickSpacing() external view returns (int24);
    function token0() external view returns (address);
    function token1() external view returns (address);
    function tickBitmap(int16 wordPosition) external view returns (uint256);
    function ticks(int24 tick)
        external
        view
        returns (uint128 liquidityGross, int128 liquidityNet, uint256, uint256, int56, uint160, uint32, bool);
}

interface IUniswapV2PairState {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function getReserves() external view returns (uint112, uint112, uint32);
}

/// @title PoolLens
/// @notice Never deployed: callers put its runtime code at any address with an eth_call state override and
///         read many pools, including every initialized V3 tick (found through the bitmap words), in one call.
///         Works the same on the devnet, a fork, or a mainnet RPC that supports state overrides.
contract PoolLens {
    int24 internal constant MIN_TICK = -887272;
    int24 internal constant MAX_TICK = 887272;

    struct TickData {
        int24 tick;
        uint128 liquidityGross;
        int128 liquidityNet;
    }

    struct V3Pool {
        address pool;
        address token0;
        address token1;
        uint24 fee;
        int24 tickSpacing;
        uint160 sqrtPriceX96;
        int24 tick;
        uint128 liquidity;
        TickData[] ticks;
    }

    struct V2Pair {
        address pair;
        address token0;
        address token1;
        uint112 reserve0;
        uint112 reserve1;
    }

    function v3Pools(address[] calldata pools) external view returns (V3Pool[] memory out, uint256 blockNumber) {
        out = new V3Pool[](pools.length);
        for (uint256 i = 0; i < pools.length; i++) {
            out[i] = _v3Pool(IUniswapV3PoolState(pools[i]));
        }
        blockNumber = block.number;
    }

    function v2Pairs(address[] calldata pairs) external view returns (V2Pair[] memory out, uint256 blockNumber) {
        out = new V2Pair[](pairs.length);
        for (uint256 i = 0; i < pairs.length; i++) {
            IUniswapV2PairState pair = IUniswapV2PairState(pairs[i]);
            (uint112 r0, uint112 r1,) = pair.getReserves();
            out[i] = V2Pair(address(pair), pair.token0(), pair.token1(), r0, r1);
        }
        blockNumber = block.number;
    }

    function _v3Pool(IUniswapV3PoolState pool) internal view returns (V3Pool memory p) {
        p.pool = address(pool);
        (p.sqrtPriceX96, p.tick,,,,,) = pool.slot0();
        p.liquidity = pool.liquidity();
        p.fee = pool.fee();
        p.tickSpacing = pool.tickSpacing();
        p.token0 = pool.token0();
        p.token1 = pool.token1();
        p.ticks = _ticks(pool, p.tickSpacing);
    }

    function _ticks(IUniswapV3PoolState pool, int24 spacing) internal view returns (TickData[] memory ticks) {
        int16 minWord = int16((MIN_TICK / spacing) >> 8);
        int16 maxWord = int16((MAX_TICK / spacing) >> 8);
        uint256[] memory words = new uint256[](uint256(int256(maxWord - minWord + 1)));
        uint256 count;
        for (int16 w = minWord; w <= maxWord; w++) {
            uint256 word = pool.tickBitmap(w);
            words[uint256(int256(w - minWord))] = word;
            while (word != 0) {
                word &= word - 1;
                count++;
            }
        }
        ticks = new TickData[](count);
        uint256 n;
        for (uint256 i = 0; i < words.length; i++) {
            uint256 word = words[i];
            for (uint256 bit = 0; word != 0; bit++) {
                if (word & 1 != 0) {
                    int24 tick = int24((int256(i) + minWord) * 256 + int256(bit)) * spacing;
                    (uint128 gross, int128 net,,,,,,) = pool.ticks(tick);
                    ticks[n++] = TickData(tick, gross, net);
                }
                word >>= 1;
            }
        }
    }
}
