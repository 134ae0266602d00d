// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ExecutorFixture, IERC20, IV2Pair} from "./ExecutorFixture.sol";
import {Executor} from "../Executor.sol";
import {Guarded} from "../Guarded.sol";

/// Pretends to be a V3 pool: asks the executor to pay it, echoing the callback data it was given.
contract FakeV3Pool {
    function swap(address, bool zeroForOne, int256 amountSpecified, uint160, bytes calldata data)
        external
        returns (int256, int256)
    {
        (int256 a0, int256 a1) = zeroForOne ? (amountSpecified, int256(-1)) : (int256(-1), amountSpecified);
        Executor(payable(msg.sender)).uniswapV3SwapCallback(a0, a1, data);
        return (a0, a1);
    }
}

/// Pretends to be a V2 pair: in a flash swap it calls uniswapV2Call without sending anything.
contract FakeV2Pair {
    function getReserves() external pure returns (uint112, uint112, uint32) {
        return (1e24, 1e24, 0);
    }

    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external {
        if (data.length > 0) Executor(payable(to)).uniswapV2Call(msg.sender, amount0Out, amount1Out, data);
    }
}

/// A "pair" hop that starts a flash swap on a canonical pair with the executor as recipient, so the canonical
/// pair calls uniswapV2Call with sender = this contract.
contract HijackingPair {
    address internal immutable canonicalPair;
    bytes internal payload;

    constructor(address pair, bytes memory route) {
        canonicalPair = pair;
        payload = route;
    }

    function getReserves() external pure returns (uint112, uint112, uint32) {
        return (1e24, 1e24, 0);
    }

    function swap(uint256, uint256, address to, bytes calldata) external {
        IV2Pair(canonicalPair).swap(1e6, 0, to, payload);
    }
}

/// A "pool" that calls execute again from inside a hop.
contract ReentrantPool {
    bytes internal route;

    function setRoute(bytes memory r) external {
        route = r;
    }

    function getReserves() external pure returns (uint112, uint112, uint32) {
        return (1e24, 1e24, 0);
    }

    function swap(uint256, uint256, address, bytes calldata) external {
        Executor(payable(msg.sender)).execute(route);
    }
}

/// Access control, callback trust, the route decoder and owner operations.
contract ExecutorTest is ExecutorFixture {
    // --------------------------------------------------------------- access

    function testFuzz_strangersCannotExecute(address who, bytes calldata route) public {
        vm.assume(who != owner && who != caller);
        vm.prank(who);
        vm.expectRevert(Guarded.Unauthorized.selector);
        executor.execute(route);
    }

    function testFuzz_nonOwnersCannotMoveFundsOrChangeRoles(address who, address to, uint256 amount) public {
        vm.assume(who != owner);
        _give(WETH, address(executor), 1e18);
        vm.deal(address(executor), 1 ether);

        vm.prank(who);
        vm.expectRevert(Guarded.Unauthorized.selector);
        executor.withdrawToken(WETH, to, amount);
        vm.prank(who);
        vm.expectRevert(Guarded.Unauthorized.selector);
        executor.withdrawEth(payable(to), amount);
        vm.prank(who);
        vm.expectRevert(Guarded.Unauthorized.selector);
        executor.setCaller(to, true);
        vm.prank(who);
        vm.expectRevert(Guarded.Unauthorized.selector);
        executor.transferOwnership(who);
        vm.prank(who);
        vm.expectRevert(Guarded.Unauthorized.selector);
        executor.acceptOwnership();

        assertEq(IERC20(WETH).balanceOf(address(executor)), 1e18 + 1, "WETH untouched");
        assertEq(address(executor).balance, 1 ether, "ETH untouched");
        assertEq(executor.owner(), owner, "owner unchanged");
    }

    function test_allowedCallerExecutesButCannotWithdraw() public {
        vm.prank(caller);
        vm.expectRevert(Guarded.Unauthorized.selector);
        executor.withdrawToken(WETH, caller, 1);
        vm.prank(caller);
        vm.expectRevert(Executor.BadRoute.selector); // past the access check
        executor.execute(hex"00");
    }

    function test_ownerManagesCallers() public {
        address bot = address(0xB07);
        vm.prank(owner);
        executor.setCaller(bot, true);
        assertTrue(executor.isCaller(bot), "added");
        vm.prank(bot);
        vm.expectRevert(Executor.BadRoute.selector);
        executor.execute(hex"");

        vm.prank(owner);
        executor.setCaller(bot, false);
        vm.prank(bot);
        vm.expectRevert(Guarded.Unauthorized.selector);
        executor.execute(hex"");

        vm.prank(owner);
        vm.expectRevert(Guarded.ZeroAddress.selector);
        executor.setCaller(address(0), true);
    }

    function test_ownershipMovesInTwoSteps() public {
        address next = address(0x0E3);
        vm.prank(owner);
        executor.transferOwnership(next);
        assertEq(executor.owner(), owner, "not yet");
        assertEq(executor.pendingOwner(), next, "pending");

        vm.prank(address(0xBAD));
        vm.expectRevert(Guarded.Unauthorized.selector);
        executor.acceptOwnership();

        vm.prank(next);
        executor.acceptOwnership();
        assertEq(executor.owner(), next, "moved");
        assertEq(executor.pendingOwner(), address(0), "cleared");

        vm.prank(owner);
        vm.expectRevert(Guarded.Unauthorized.selector);
        executor.withdrawEth(payable(owner), 0);
    }

    function test_constructorRejectsZeroOwner() public {
        vm.expectRevert(Guarded.ZeroAddress.selector);
        new Executor(address(0), new address[](0));
    }

    // ------------------------------------------------------------ withdraws

    function test_ownerWithdrawsAndSweeps() public {
        _give(USDC, address(executor), 5e6);
        vm.deal(address(executor), 3 ether);
        address to = address(0xCAFE);

        vm.prank(owner);
        executor.withdrawToken(USDC, to, 2e6);
        assertEq(IERC20(USDC).balanceOf(to), 2e6, "partial");

        vm.prank(owner);
        executor.withdrawToken(USDC, to, type(uint256).max);
        assertEq(IERC20(USDC).balanceOf(to), 5e6 + 1, "swept");
        assertEq(IERC20(USDC).balanceOf(address(executor)), 0, "nothing left");

        vm.prank(owner);
        executor.withdrawEth(payable(to), 1 ether);
        assertEq(to.balance, 1 ether, "ETH partial");
        vm.prank(owner);
        executor.withdrawEth(payable(to), type(uint256).max);
        assertEq(to.balance, 3 ether, "ETH swept");

        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(Executor.TransferFailed.selector, USDC));
        executor.withdrawToken(USDC, to, 1);
    }

    // ------------------------------------------------------------ callbacks

    function test_callbacksOutsideExecuteAreRejected() public {
        bytes memory route = encodeRoute(
            V3_FLASH, PAY_NONE, 1e18, 0, 0, WETH, hops2(hop(V3, v3WethUsdc500, USDC, 500), hop(V2, v2WethUsdc, WETH, V2_FEE))
        );
        _give(WETH, address(executor), 10e18);
        // even the canonical pool and pair, and the executor itself as V2 `sender`
        vm.prank(v3WethUsdc500);
        vm.expectRevert(Executor.NotExecuting.selector);
        executor.uniswapV3SwapCallback(1e18, -1, abi.encodePacked(uint8(0), route));

        vm.prank(v2WethUsdc);
        vm.expectRevert(Executor.NotExecuting.selector);
        executor.uniswapV2Call(address(executor), 0, 1, route);
        assertEq(IERC20(WETH).balanceOf(address(executor)), 10e18 + 1, "nothing paid");
    }

    function test_v3CallbackFromFakePoolIsRejected() public {
        FakeV3Pool fake = new FakeV3Pool();
        _give(WETH, address(executor), 10e18);
        bytes memory route = encodeRoute(
            OWN_BALANCE,
            PAY_NONE,
            1e18,
            0,
            0,
            WETH,
            hops2(hop(V3, address(fake), USDC, 500), hop(V2, v2WethUsdc, WETH, V2_FEE))
        );
        vm.prank(caller);
        vm.expectRevert(Executor.UntrustedCallback.selector);
        executor.execute(route);
        // and as a flash swap
        route[0] = bytes1(V3_FLASH);
        vm.prank(caller);
        vm.expectRevert(Executor.UntrustedCallback.selector);
        executor.execute(route);
    }

    function test_v2CallbackFromFakePairIsRejected() public {
        FakeV2Pair fake = new FakeV2Pair();
        _give(WETH, address(executor), 10e18);
        bytes memory route = encodeRoute(
            V2_FLASH,
            PAY_NONE,
            1e18,
            0,
            0,
            WETH,
            hops2(hop(V2, address(fake), USDC, V2_FEE), hop(V3, v3WethUsdc500, WETH, 500))
        );
        vm.prank(caller);
        vm.expectRevert(Executor.UntrustedCallback.selector);
        executor.execute(route);
    }

    /// A canonical pair calling back for a swap someone else started (sender != executor) is rejected.
    function test_v2CallbackForForeignSwapIsRejected() public {
        bytes memory payload = encodeRoute(
            V2_FLASH, PAY_NONE, 1, 0, 0, USDC, hops2(hop(V2, v2WethUsdc, WETH, V2_FEE), hop(V2, v2WethUsdc, USDC, V2_FEE))
        );
        HijackingPair hijacker = new HijackingPair(v2WethUsdc, payload);
        _give(WETH, address(executor), 10e18);
        bytes memory route = encodeRoute(
            OWN_BALANCE,
            PAY_NONE,
            1e18,
            0,
            0,
            WETH,
            hops2(hop(V2, address(hijacker), USDC, V2_FEE), hop(V3, v3WethUsdc500, WETH, 500))
        );
        vm.prank(caller);
        vm.expectRevert(Executor.UntrustedCallback.selector);
        executor.execute(route);
    }

    function test_executeCannotReenter() public {
        ReentrantPool pool = new ReentrantPool();
        vm.prank(owner);
        executor.setCaller(address(pool), true);
        bytes memory route = encodeRoute(
            OWN_BALANCE, PAY_NONE, 1, 0, 0, WETH, hops2(hop(V2, address(pool), USDC, V2_FEE), hop(V2, v2WethUsdc, WETH, V2_FEE))
        );
        pool.setRoute(route);
        _give(WETH, address(executor), 1e18);
        vm.prank(caller);
        vm.expectRevert(Executor.AlreadyExecuting.selector);
        executor.execute(route);
    }

    // -------------------------------------------------------------- decoder

    function test_decodeRouteRoundTrip() public view {
        HopSpec[] memory hops = new HopSpec[](3);
        hops[0] = hop(V3, v3WethUsdc500, USDC, 500);
        hops[1] = hop(V2, v2DaiUsdc, DAI, 9975);
        hops[2] = hop(V2, v2WethDai, WETH, V2_FEE);
        bytes memory route = encodeRoute(V3_FLASH, PAY_BPS, 12345e18, 6789, 2500, WETH, hops);
        assertEq(route.length, 70 + 3 * 44, "packed length");
        Executor.Route memory r = executor.decodeRoute(route);
        assertEq(r.funding, V3_FLASH, "funding");
        assertEq(r.paymentMode, PAY_BPS, "payment mode");
        assertEq(r.amountIn, 12345e18, "amountIn");
        assertEq(r.minProfit, 6789, "minProfit");
        assertEq(r.payment, 2500, "payment");
        assertEq(r.tokenIn, WETH, "tokenIn");
        assertEq(r.profitToken, WETH, "profit token");
        assertEq(r.hops.length, 3, "hops");
        assertEq(r.hops[1].kind, V2, "kind");
        assertEq(r.hops[1].pool, v2DaiUsdc, "pool");
        assertEq(r.hops[1].tokenIn, USDC, "hop tokenIn");
        assertEq(r.hops[1].tokenOut, DAI, "hop tokenOut");
        assertEq(r.hops[1].fee, 9975, "fee");
        assertEq(r.hops[0].fee, 500, "V3 fee");
    }

    function testFuzz_decodeRouteRoundTrip(uint128 amountIn, uint128 minProfit, uint128 payment, uint8 n, uint24 fee)
        public
        view
    {
        n = uint8(bound(n, 2, 4));
        HopSpec[] memory hops = new HopSpec[](n);
        address[4] memory pools = [v2WethUsdc, v3WethUsdc500, v2DaiUsdc, v3WethDai3000];
        address tokenIn = WETH;
        for (uint256 i = 0; i < n; ++i) {
            address tokenOut = tokenIn == WETH ? USDC : WETH;
            uint8 kind = uint8(i % 2);
            uint24 f = kind == V2 ? uint24(bound(fee, 1, 10_000)) : uint24(bound(fee, 1, 999_999));
            hops[i] = hop(kind, pools[i], tokenOut, f);
            tokenIn = tokenOut;
        }
        Executor.Route memory r =
            executor.decodeRoute(encodeRoute(OWN_BALANCE, PAY_WEI, amountIn, minProfit, payment, WETH, hops));
        assertEq(r.amountIn, amountIn, "amountIn");
        assertEq(r.minProfit, minProfit, "minProfit");
        assertEq(r.payment, payment, "payment");
        assertEq(r.hops.length, n, "n");
        for (uint256 i = 0; i < n; ++i) {
            assertEq(r.hops[i].pool, hops[i].pool, "pool");
            assertEq(r.hops[i].fee, hops[i].fee, "fee");
            assertEq(r.hops[i].kind, hops[i].kind, "kind");
        }
    }

    function test_malformedRoutesAreRejected() public {
        HopSpec[] memory two = hops2(hop(V3, v3WethUsdc500, USDC, 500), hop(V2, v2WethUsdc, WETH, V2_FEE));
        bytes memory good = encodeRoute(V3_FLASH, PAY_NONE, 1e18, 0, 0, WETH, two);
        executor.decodeRoute(good);

        expectBadRoute(hex"");
        expectBadRoute(_cut(good, 1)); // truncated
        expectBadRoute(abi.encodePacked(good, uint8(0))); // trailing byte
        expectBadRoute(_with(good, 0, 0x10)); // unknown flag bit
        expectBadRoute(_with(good, 0, 0x0c)); // payment mode 3
        expectBadRoute(_with(good, 1, 1)); // one hop declared, two hops of bytes
        HopSpec[] memory one = new HopSpec[](1);
        one[0] = hop(V3, v3WethUsdc500, USDC, 500);
        expectBadRoute(encodeRoute(V3_FLASH, PAY_NONE, 1, 0, 0, WETH, one)); // a single swap is own-balance only
        one[0] = hop(V2, v2WethUsdc, USDC, V2_FEE);
        expectBadRoute(encodeRoute(V2_FLASH, PAY_NONE, 1, 0, 0, WETH, one));
        expectBadRoute(_with(good, 1, 5)); // five hops
        expectBadRoute(_with(good, 70, 2)); // unknown hop kind
        expectBadRoute(_with(good, 0, V2_FLASH)); // V2 flash swap needs a V2 first hop
        expectBadRoute(encodeRoute(OWN_BALANCE, PAY_NONE, 1, 0, 0, WETH, hops2(hop(V3, v3WethUsdc500, USDC, 0), two[1])));
        expectBadRoute(
            encodeRoute(OWN_BALANCE, PAY_NONE, 1, 0, 0, WETH, hops2(hop(V3, v3WethUsdc500, USDC, 1_000_000), two[1]))
        );
        expectBadRoute(encodeRoute(OWN_BALANCE, PAY_NONE, 1, 0, 0, WETH, hops2(two[0], hop(V2, v2WethUsdc, WETH, 10_001))));
        expectBadRoute(encodeRoute(OWN_BALANCE, PAY_NONE, 1, 0, 0, WETH, hops2(two[0], hop(V2, v2WethUsdc, USDC, V2_FEE))));
        expectBadRoute(encodeRoute(OWN_BALANCE, PAY_BPS, 1, 0, 10_001, WETH, two));
        expectBadRoute(
            encodeRoute(OWN_BALANCE, PAY_BPS, 1, 0, 100, WETH, hops2(two[0], hop(V2, v2DaiUsdc, DAI, V2_FEE)))
        );
        // execute rejects malformed bytes the same way
        vm.prank(caller);
        vm.expectRevert(Executor.BadRoute.selector);
        executor.execute(_with(good, 70, 2));
    }

    function expectBadRoute(bytes memory route) internal {
        vm.expectRevert(Executor.BadRoute.selector);
        executor.decodeRoute(route);
    }

    function _with(bytes memory route, uint256 index, uint8 value) internal pure returns (bytes memory copy) {
        copy = abi.encodePacked(route);
        copy[index] = bytes1(value);
    }

    function _cut(bytes memory route, uint256 count) internal pure returns (bytes memory copy) {
        copy = new bytes(route.length - count);
        for (uint256 i = 0; i < copy.length; ++i) {
            copy[i] = route[i];
        }
    }
}
