// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IWETH9} from "./interfaces/IWETH9.sol";
import {Guarded} from "./Guarded.sol";

/// @title Executor: one atomic 1-4 hop swap route across Uniswap V2 pairs and V3 pools.
/// @notice Reverts unless the profit token balance grew by minProfit (plus the builder payment when that is
///         paid out of WETH profit). Only the owner and allow-listed callers execute; only the owner moves funds
///         out. There is no arbitrary-call path and no token approval is ever granted.
/// @dev Route: packed big-endian bytes, written by src/defibots/execution/route.py.
///
///   header, 70 bytes
///     [0]      flags: bits 0-1 funding (0 own balance, 1 V2 flash swap, 2 V3 flash swap,
///              3 Aave V3 flashLoanSimple: reserved, reverts NotSupported), bits 2-3 builder payment
///              (0 none, 1 wei, 2 basis points of the gross profit), bits 4-7 zero
///     [1]      hop count n, 1..4 (1: a single-pool swap from own balance, the on-chain leg of a hedged trade)
///     [2:18]   amountIn   uint128  input of the first hop
///     [18:34]  minProfit  uint128  in the profit token
///     [34:50]  payment    uint128  wei (mode 1) or bps of gross profit (mode 2, <= 10000, profit token WETH)
///     [50:70]  tokenIn    input token of the first hop
///   n hops of 44 bytes from offset 70
///     [0]      kind: 0 Uniswap V2 pair (or a fork with the same interface), 1 Uniswap V3 pool
///     [1:21]   pool
///     [21:41]  tokenOut   output token; the next hop's input. Direction is tokenIn < tokenOut (zeroForOne).
///     [41:44]  fee uint24 V2: input kept after the fee, per 10000 (Uniswap 9970); V3: the pool fee (500)
///
/// The profit token is the last hop's tokenOut: the route is a cycle when that equals tokenIn, otherwise the
/// last token is the declared profit token. For a single-pool swap minProfit is the minimum output: the price
/// guard of a hedged trade's on-chain leg.
///
/// Funding:
///   own balance  hops run one after another from this contract's balance.
///   V2 flash     the first pair sends its output first and calls uniswapV2Call, where the remaining hops
///                run; then the pair gets amountIn (canonical Uniswap V2 pairs only).
///   V3 flash     the first pool sends its output (straight to the next pair when that is V2) and calls
///                uniswapV3SwapCallback, where the remaining hops run; then the pool is paid. The cheapest.
/// Outputs go straight to the next hop's pair when it is V2 (V2 is paid by transfer-then-swap); V3 pools are
/// paid inside their swap callback. Callbacks are accepted only while execute runs (a transient flag), only
/// from the CREATE2 address of the canonical pool for the tokens and fee in the callback data, and (V2) only
/// for swaps this contract started.
///
/// Builder payment goes to block.coinbase in ETH. When the profit token is WETH the payment is unwrapped out of
/// the profit and counted against it (balanceAfter >= balanceBefore + minProfit + payment). With another profit
/// token only mode 1 is allowed and the wei come from this contract's ETH balance (fund it beforehand).
///
/// Addresses are mainnet's (also the devnet replica's). No immutables, so the deployed code equals the
/// artifact's deployedBytecode and a deployment can be checked by code hash.
contract Executor is Guarded {
    // Route layout.
    uint256 private constant HEADER_BYTES = 70;
    uint256 private constant HOP_BYTES = 44;
    uint256 private constant MIN_HOPS = 1;
    uint256 private constant MAX_HOPS = 4;

    uint256 private constant FUNDING_OWN_BALANCE = 0;
    uint256 private constant FUNDING_V2_FLASH_SWAP = 1;
    uint256 private constant FUNDING_V3_FLASH_SWAP = 2;
    uint256 private constant FUNDING_AAVE_FLASH_LOAN = 3;

    uint256 private constant PAYMENT_NONE = 0;
    uint256 private constant PAYMENT_WEI = 1;
    uint256 private constant PAYMENT_PROFIT_BPS = 2;

    uint256 private constant KIND_V2 = 0;
    uint256 private constant KIND_V3 = 1;

    uint256 private constant BPS = 10_000;
    uint256 private constant V3_MAX_FEE = 1_000_000;

    /// V3 callback data is one tag byte + the route. Tag: hop index, plus this bit on the first hop's flash
    /// swap, whose callback runs the rest of the route before paying.
    uint256 private constant TAG_FLASH = 0x80;

    /// Transient storage slot of the "execute is running" flag.
    uint256 private constant EXECUTING_SLOT = 0;

    uint160 private constant MIN_SQRT_RATIO_PLUS_ONE = 4295128740;
    uint160 private constant MAX_SQRT_RATIO_MINUS_ONE = 1461446703485210103287273052203988822378723970341;

    address private constant WETH = 0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2;
    address private constant V2_FACTORY = 0x5C69bEe701ef814a2B6a3EDD4B1652CB9cc5aA6f;
    bytes32 private constant V2_PAIR_INIT_CODE_HASH = 0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f;
    address private constant V3_FACTORY = 0x1F98431c8aD98523631AE4a59f267346ea31F984;
    bytes32 private constant V3_POOL_INIT_CODE_HASH = 0xe34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54;

    /// One hop of a decoded route (decodeRoute's view of the packed bytes).
    struct Hop {
        uint8 kind;
        address pool;
        address tokenIn;
        address tokenOut;
        uint24 fee;
    }

    /// A decoded route; `payment` is wei or bps depending on paymentMode.
    struct Route {
        uint8 funding;
        uint8 paymentMode;
        uint128 amountIn;
        uint128 minProfit;
        uint128 payment;
        address tokenIn;
        address profitToken;
        Hop[] hops;
    }

    error AlreadyExecuting();
    error NotExecuting();
    error BadRoute();
    error NotSupported();
    error UntrustedCallback();
    error InsufficientProfit(uint256 balanceAfter, uint256 required);
    error AmountTooLarge();
    error TransferFailed(address token);
    error BalanceQueryFailed(address token);

    constructor(address owner_, address[] memory callers) Guarded(owner_, callers) {}

    receive() external payable {}

    // ------------------------------------------------------------------ execute

    /// @notice Runs the packed route; returns the net profit in the profit token (after a WETH-paid builder
    ///         payment). Reverts InsufficientProfit(balanceAfter, required) when the route does not pay.
    function execute(bytes calldata route) external onlyCaller returns (uint256 profit) {
        if (_executing()) revert AlreadyExecuting();
        _setExecuting(1);

        (uint256 flags, uint256 n) = _checkRoute(route);
        (,, address profitToken,) = _hop(route, n - 1);
        uint256 balanceBefore = _balanceOf(profitToken);
        uint256 funding = flags & 3;
        uint256 amountIn = _amountIn(route);

        if (funding == FUNDING_V3_FLASH_SWAP) {
            _startV3FlashSwap(route, n, amountIn);
        } else if (funding == FUNDING_V2_FLASH_SWAP) {
            _startV2FlashSwap(route, amountIn);
        } else if (funding == FUNDING_OWN_BALANCE) {
            _runHops(route, 0, n, amountIn, false);
        } else {
            // FUNDING_AAVE_FLASH_LOAN, reserved: call Pool.flashLoanSimple(this, tokenIn, amountIn, route, 0);
            // in executeOperation check msg.sender == the Aave Pool and initiator == this, run hops 0..n, then
            // approve exactly amount + premium for the Pool to pull (the one approval, consumed in full).
            revert NotSupported();
        }

        profit = _settle(route, flags, profitToken, balanceBefore, _balanceOf(profitToken));
        _setExecuting(0);
    }

    // ---------------------------------------------------------------- callbacks

    /// @notice V3 pools call this during swaps this contract started: pay the pool; on the first hop of a V3
    ///         flash swap, run the rest of the route first.
    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata data) external {
        if (!_executing()) revert NotExecuting();
        uint256 tag = uint8(data[0]);
        bytes calldata route = data[1:];
        address tokenIn = _checkV3Caller(route, tag & (TAG_FLASH - 1));
        (int256 owed, int256 received) = amount0Delta > 0 ? (amount0Delta, amount1Delta) : (amount1Delta, amount0Delta);
        if (tag & TAG_FLASH != 0) {
            uint256 n = _hopCount(route);
            _runHops(route, 1, n, uint256(-received), _recipient(route, 0, n) != address(this));
        }
        if (owed > 0) _transfer(tokenIn, msg.sender, uint256(owed));
    }

    /// @notice The first pair of a V2 flash swap calls this after sending its output: run the rest of the
    ///         route, then pay the pair amountIn.
    function uniswapV2Call(address sender, uint256 amount0, uint256 amount1, bytes calldata route) external {
        if (!_executing()) revert NotExecuting();
        address tokenIn = _tokenIn(route);
        (,, address tokenOut,) = _hop(route, 0);
        if (sender != address(this) || msg.sender != _v2Pair(tokenIn, tokenOut)) revert UntrustedCallback();
        _runHops(route, 1, _hopCount(route), amount0 + amount1, false);
        _transfer(tokenIn, msg.sender, _amountIn(route));
    }

    // -------------------------------------------------------------------- views

    /// @notice Decodes and fully validates a packed route (execute leaves fee and token checks to the pools).
    ///         Lets off-chain encoders check they write the bytes this contract reads.
    function decodeRoute(bytes calldata route) external pure returns (Route memory decoded) {
        (uint256 flags, uint256 n) = _checkRoute(route);
        decoded.funding = uint8(flags & 3);
        decoded.paymentMode = uint8((flags >> 2) & 3);
        decoded.amountIn = uint128(_amountIn(route));
        decoded.minProfit = uint128(_minProfit(route));
        decoded.payment = uint128(_payment(route));
        decoded.tokenIn = _tokenIn(route);
        decoded.hops = new Hop[](n);
        address tokenIn = decoded.tokenIn;
        for (uint256 i = 0; i < n; ++i) {
            (uint256 kind, address pool, address tokenOut, uint256 fee) = _hop(route, i);
            bool feeOk = kind == KIND_V2 ? (fee > 0 && fee <= BPS) : (fee > 0 && fee < V3_MAX_FEE);
            if (kind > KIND_V3 || !feeOk || pool == address(0) || tokenIn == tokenOut) revert BadRoute();
            decoded.hops[i] = Hop(uint8(kind), pool, tokenIn, tokenOut, uint24(fee));
            tokenIn = tokenOut;
        }
        decoded.profitToken = tokenIn;
        uint256 funding = decoded.funding;
        if (funding == FUNDING_V2_FLASH_SWAP && decoded.hops[0].kind != KIND_V2) revert BadRoute();
        if (funding == FUNDING_V3_FLASH_SWAP && decoded.hops[0].kind != KIND_V3) revert BadRoute();
        if (decoded.paymentMode == PAYMENT_PROFIT_BPS && (decoded.payment > BPS || tokenIn != WETH)) {
            revert BadRoute();
        }
    }

    // ----------------------------------------------------------------- internal

    /// Runs hops [i, n) starting with `amount` of hop i's input; returns the last output amount.
    /// `inputAtPool`: hop i's input already sits at its (V2) pair.
    function _runHops(bytes calldata route, uint256 i, uint256 n, uint256 amount, bool inputAtPool)
        private
        returns (uint256)
    {
        for (; i < n; ++i) {
            address to = _recipient(route, i, n);
            (uint256 kind,,,) = _hop(route, i);
            if (kind == KIND_V2) {
                amount = _hopV2(route, i, amount, to, !inputAtPool);
            } else if (kind == KIND_V3) {
                amount = _hopV3(route, i, amount, to);
            } else {
                revert BadRoute();
            }
            inputAtPool = to != address(this);
        }
        return amount;
    }

    function _hopV2(bytes calldata route, uint256 i, uint256 amountIn, address to, bool payFirst)
        private
        returns (uint256 amountOut)
    {
        (, address pair, address tokenOut, uint256 fee) = _hop(route, i);
        address tokenIn = _hopInput(route, i);
        bool zeroForOne = tokenIn < tokenOut;
        amountOut = _v2AmountOut(pair, zeroForOne, fee, amountIn);
        if (payFirst) _transfer(tokenIn, pair, amountIn);
        _callV2Swap(pair, zeroForOne, amountOut, to, msg.data[0:0]);
    }

    function _hopV3(bytes calldata route, uint256 i, uint256 amountIn, address to) private returns (uint256) {
        (, address pool, address tokenOut,) = _hop(route, i);
        return _swapV3(pool, _hopInput(route, i) < tokenOut, amountIn, to, i, route);
    }

    /// First hop of a V3 flash swap; uniswapV3SwapCallback (tagged TAG_FLASH) runs the rest.
    function _startV3FlashSwap(bytes calldata route, uint256 n, uint256 amountIn) private {
        (uint256 kind, address pool, address tokenOut,) = _hop(route, 0);
        if (kind != KIND_V3) revert BadRoute();
        _swapV3(pool, _tokenIn(route) < tokenOut, amountIn, _recipient(route, 0, n), TAG_FLASH, route);
    }

    /// First hop of a V2 flash swap; uniswapV2Call runs the rest and pays the pair.
    function _startV2FlashSwap(bytes calldata route, uint256 amountIn) private {
        (uint256 kind, address pair, address tokenOut, uint256 fee) = _hop(route, 0);
        if (kind != KIND_V2) revert BadRoute();
        bool zeroForOne = _tokenIn(route) < tokenOut;
        uint256 out = _v2AmountOut(pair, zeroForOne, fee, amountIn);
        _callV2Swap(pair, zeroForOne, out, address(this), route);
    }

    /// Reverts unless msg.sender is the canonical V3 pool of hop i's tokens and fee; returns hop i's input.
    function _checkV3Caller(bytes calldata route, uint256 i) private view returns (address tokenIn) {
        (,, address tokenOut, uint256 fee) = _hop(route, i);
        tokenIn = _hopInput(route, i);
        if (msg.sender != _v3Pool(tokenIn, tokenOut, fee)) revert UntrustedCallback();
    }

    /// Hop i's output goes straight to the next hop's pair when that is V2 (saves a transfer), else here.
    function _recipient(bytes calldata route, uint256 i, uint256 n) private view returns (address) {
        if (i + 1 < n) {
            (uint256 kind, address pool,,) = _hop(route, i + 1);
            if (kind == KIND_V2) return pool;
        }
        return address(this);
    }

    /// Uniswap V2's getAmountOut with the fee as "kept per 10000" (9970 gives exactly Uniswap's 997/1000).
    function _v2AmountOut(address pair, bool zeroForOne, uint256 fee, uint256 amountIn)
        private
        view
        returns (uint256)
    {
        uint256 reserveIn;
        uint256 reserveOut;
        bool ok;
        assembly ("memory-safe") {
            // getReserves() into scratch space: (reserve0, reserve1, blockTimestampLast)
            mstore(0x00, shl(224, 0x0902f1ac))
            ok := staticcall(gas(), pair, 0x00, 0x04, 0x00, 0x40)
            ok := and(ok, gt(returndatasize(), 0x3f))
            reserveIn := mload(shl(5, iszero(zeroForOne)))
            reserveOut := mload(shl(5, zeroForOne))
        }
        if (!ok) revert BadRoute();
        uint256 inWithFee = amountIn * fee;
        return inWithFee * reserveOut / (reserveIn * BPS + inWithFee);
    }

    /// V3 exact-input swap; the callback gets `tag` (hop index | TAG_FLASH) followed by the route.
    function _swapV3(address pool, bool zeroForOne, uint256 amountIn, address to, uint256 tag, bytes calldata route)
        private
        returns (uint256 amountOut)
    {
        if (amountIn > uint256(type(int256).max)) revert AmountTooLarge();
        uint160 limit = zeroForOne ? MIN_SQRT_RATIO_PLUS_ONE : MAX_SQRT_RATIO_MINUS_ONE;
        bool ok;
        assembly ("memory-safe") {
            // swap(address,bool,int256,uint160,bytes), encoded in place: one copy of the route
            let m := mload(0x40)
            mstore(m, shl(224, 0x128acb08))
            mstore(add(m, 0x04), to)
            mstore(add(m, 0x24), zeroForOne)
            mstore(add(m, 0x44), amountIn)
            mstore(add(m, 0x64), limit)
            mstore(add(m, 0x84), 0xa0)
            mstore(add(m, 0xa4), add(route.length, 1))
            mstore8(add(m, 0xc4), tag)
            calldatacopy(add(m, 0xc5), route.offset, route.length)
            if iszero(call(gas(), pool, 0, m, add(0xc5, route.length), 0x00, 0x40)) {
                returndatacopy(m, 0, returndatasize())
                revert(m, returndatasize())
            }
            ok := gt(returndatasize(), 0x3f)
            // (amount0, amount1): the output is the negative one on the out side
            amountOut := sub(0, mload(shl(5, zeroForOne)))
        }
        if (!ok) revert BadRoute();
    }

    /// pair.swap(amount0Out, amount1Out, to, data): empty data for a plain hop, the route for a flash swap.
    function _callV2Swap(address pair, bool zeroForOne, uint256 amountOut, address to, bytes calldata data) private {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, shl(224, 0x022c0d9f))
            mstore(add(m, 0x04), mul(iszero(zeroForOne), amountOut))
            mstore(add(m, 0x24), mul(zeroForOne, amountOut))
            mstore(add(m, 0x44), to)
            mstore(add(m, 0x64), 0x80)
            mstore(add(m, 0x84), data.length)
            calldatacopy(add(m, 0xa4), data.offset, data.length)
            if iszero(call(gas(), pair, 0, m, add(0xa4, data.length), 0x00, 0x00)) {
                returndatacopy(m, 0, returndatasize())
                revert(m, returndatasize())
            }
        }
    }

    /// Checks the profit guard and pays the builder; returns the net profit in the profit token.
    function _settle(bytes calldata route, uint256 flags, address profitToken, uint256 before, uint256 balanceAfter)
        private
        returns (uint256 profit)
    {
        uint256 mode = (flags >> 2) & 3;
        uint256 payment;
        if (mode == PAYMENT_WEI) {
            payment = _payment(route);
        } else if (mode == PAYMENT_PROFIT_BPS) {
            uint256 bps = _payment(route);
            if (profitToken != WETH || bps > BPS) revert BadRoute();
            if (balanceAfter > before) payment = (balanceAfter - before) * bps / BPS;
        }
        uint256 fromProfit = profitToken == WETH ? payment : 0;
        uint256 required = before + _minProfit(route) + fromProfit;
        if (balanceAfter < required) revert InsufficientProfit(balanceAfter, required);
        profit = balanceAfter - before - fromProfit;
        if (payment != 0) {
            if (fromProfit != 0) IWETH9(WETH).withdraw(payment);
            (bool ok,) = block.coinbase.call{value: payment}("");
            if (!ok) revert PaymentFailed();
        }
    }

    /// CREATE2 address of the canonical Uniswap V3 pool for the tokens and fee.
    function _v3Pool(address tokenA, address tokenB, uint256 fee) private pure returns (address pool) {
        (address token0, address token1) = tokenA < tokenB ? (tokenA, tokenB) : (tokenB, tokenA);
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, token0)
            mstore(add(m, 0x20), token1)
            mstore(add(m, 0x40), fee)
            let salt := keccak256(m, 0x60)
            mstore(m, V3_FACTORY)
            mstore8(add(m, 0x0b), 0xff)
            mstore(add(m, 0x20), salt)
            mstore(add(m, 0x40), V3_POOL_INIT_CODE_HASH)
            pool := and(keccak256(add(m, 0x0b), 0x55), 0xffffffffffffffffffffffffffffffffffffffff)
        }
    }

    /// CREATE2 address of the canonical Uniswap V2 pair for the tokens.
    function _v2Pair(address tokenA, address tokenB) private pure returns (address pair) {
        (address token0, address token1) = tokenA < tokenB ? (tokenA, tokenB) : (tokenB, tokenA);
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, shl(96, token0))
            mstore(add(m, 0x14), shl(96, token1))
            let salt := keccak256(m, 0x28)
            mstore(m, V2_FACTORY)
            mstore8(add(m, 0x0b), 0xff)
            mstore(add(m, 0x20), salt)
            mstore(add(m, 0x40), V2_PAIR_INIT_CODE_HASH)
            pair := and(keccak256(add(m, 0x0b), 0x55), 0xffffffffffffffffffffffffffffffffffffffff)
        }
    }

    /// ERC-20 transfer that also accepts tokens returning nothing (USDT).
    function _transfer(address token, address to, uint256 amount) internal override {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, shl(224, 0xa9059cbb))
            mstore(add(m, 0x04), to)
            mstore(add(m, 0x24), amount)
            ok := call(gas(), token, 0, m, 0x44, 0x00, 0x20)
            ok := and(ok, or(iszero(returndatasize()), and(gt(returndatasize(), 0x1f), eq(mload(0x00), 1))))
        }
        if (!ok) revert TransferFailed(token);
    }

    function _balanceOf(address token) internal view override returns (uint256 amount) {
        bool ok;
        assembly ("memory-safe") {
            mstore(0x00, shl(224, 0x70a08231))
            mstore(0x04, address())
            ok := staticcall(gas(), token, 0x00, 0x24, 0x00, 0x20)
            ok := and(ok, gt(returndatasize(), 0x1f)) // Yul evaluates arguments right to left: check after the call
            amount := mload(0x00)
        }
        if (!ok) revert BalanceQueryFailed(token);
    }

    function _executing() private view returns (bool on) {
        assembly ("memory-safe") {
            on := tload(EXECUTING_SLOT)
        }
    }

    function _setExecuting(uint256 on) private {
        assembly ("memory-safe") {
            tstore(EXECUTING_SLOT, on)
        }
    }

    // Packed route readers (offsets in the contract's NatSpec). Reads past the end return zeros; execute and
    // decodeRoute check the length first.

    function _checkRoute(bytes calldata route) private pure returns (uint256 flags, uint256 n) {
        if (route.length < HEADER_BYTES) revert BadRoute();
        assembly ("memory-safe") {
            let word := calldataload(route.offset)
            flags := byte(0, word)
            n := byte(1, word)
        }
        if (flags > 0x0f || (flags >> 2) & 3 == 3 || n < MIN_HOPS || n > MAX_HOPS) revert BadRoute();
        if (route.length != HEADER_BYTES + n * HOP_BYTES) revert BadRoute();
        // a flash-funded single swap could only repay from the contract's own balance: say so instead
        if (n == 1 && flags & 3 != FUNDING_OWN_BALANCE) revert BadRoute();
    }

    function _hopCount(bytes calldata route) private pure returns (uint256 n) {
        assembly ("memory-safe") {
            n := byte(1, calldataload(route.offset))
        }
    }

    function _amountIn(bytes calldata route) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(128, calldataload(add(route.offset, 2)))
        }
    }

    function _minProfit(bytes calldata route) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(128, calldataload(add(route.offset, 18)))
        }
    }

    function _payment(bytes calldata route) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(128, calldataload(add(route.offset, 34)))
        }
    }

    function _tokenIn(bytes calldata route) private pure returns (address t) {
        assembly ("memory-safe") {
            t := shr(96, calldataload(add(route.offset, 50)))
        }
    }

    function _hopInput(bytes calldata route, uint256 i) private pure returns (address) {
        if (i == 0) return _tokenIn(route);
        (,, address tokenOut,) = _hop(route, i - 1);
        return tokenOut;
    }

    function _hop(bytes calldata route, uint256 i)
        private
        pure
        returns (uint256 kind, address pool, address tokenOut, uint256 fee)
    {
        assembly ("memory-safe") {
            let p := add(route.offset, add(HEADER_BYTES, mul(i, HOP_BYTES)))
            let word := calldataload(p)
            kind := byte(0, word)
            pool := shr(96, shl(8, word))
            tokenOut := shr(96, calldataload(add(p, 21)))
            fee := shr(232, calldataload(add(p, 41)))
        }
    }
}
