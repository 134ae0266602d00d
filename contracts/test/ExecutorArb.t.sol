// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {console} from "./Vm.sol";
import {ExecutorFixture, IERC20} from "./ExecutorFixture.sol";
import {Executor} from "../Executor.sol";
import {Guarded} from "../Guarded.sol";

/// @notice Profitable and unprofitable routes on real Uniswap code: each test moves a price with a big swap,
///         replays the route by hand to know the exact outcome, then checks the Executor matches it to the wei.
contract ExecutorArbTest is ExecutorFixture {
    address internal builder = address(0xB1D);

    function setUp() public override {
        super.setUp();
        vm.coinbase(builder);
    }

    // ------------------------------------------------------------- helpers

    /// Sells `amount` WETH on a pool so WETH becomes cheap there.
    function dumpWeth(uint8 kind, address pool, address quote, uint256 amount) internal {
        _give(WETH, address(this), amount);
        if (kind == V2) swapV2(pool, WETH, quote, amount, address(this));
        else swapV3(pool, WETH, quote, amount, address(this));
    }

    /// Sells WETH on a pool in steps of `step` until `hops` from `token` earn at least 0.1% of `amountIn`:
    /// pools of any depth (standalone world, replica) end up dislocated enough.
    function dislocate(
        uint8 kind,
        address pool,
        address quote,
        uint256 step,
        address token,
        uint256 amountIn,
        HopSpec[] memory hops
    ) internal {
        for (uint256 i = 0; i < 20; ++i) {
            dumpWeth(kind, pool, quote, step);
            if (replayProfit(token, amountIn, hops) > int256(amountIn / 1000)) return;
        }
        revert("dislocate: no profitable price after 20 steps");
    }

    /// The reference depth every test sizes its trades by: WETH held by the V2 WETH/USDC pair.
    function depth() internal view returns (uint256) {
        (uint256 r0, uint256 r1,) = IV2PairReserves(v2WethUsdc).getReserves();
        return USDC < WETH ? r1 : r0;
    }

    function usdcDepth() internal view returns (uint256) {
        (uint256 r0, uint256 r1,) = IV2PairReserves(v2WethUsdc).getReserves();
        return USDC < WETH ? r0 : r1;
    }

    function run(bytes memory route) internal returns (uint256 profit, uint256 gasUsed) {
        vm.prank(caller);
        uint256 start = gasleft();
        profit = executor.execute(route);
        gasUsed = start - gasleft();
    }

    /// Executes a cycle and checks profit == the hand replay's profit == the executor's balance change.
    function assertCycle(uint8 funding, address token, uint256 amountIn, HopSpec[] memory hops, string memory what)
        internal
        returns (uint256 profit, uint256 gasUsed)
    {
        int256 expected = replayProfit(token, amountIn, hops);
        assertTrue(expected > 0, string.concat(what, ": price move too small to be profitable"));
        if (funding == OWN_BALANCE) _give(token, address(executor), amountIn);
        uint256 before = IERC20(token).balanceOf(address(executor));
        (profit, gasUsed) = run(encodeRoute(funding, PAY_NONE, amountIn, uint256(expected), 0, token, hops));
        assertEq(profit, uint256(expected), string.concat(what, ": profit != hand replay"));
        assertEq(IERC20(token).balanceOf(address(executor)), before + profit, string.concat(what, ": balance change"));
        console.log(string.concat(what, " profit"), profit);
        console.log(string.concat(what, " gas (execute call)"), gasUsed);
    }

    // ----------------------------------------------------------- two hops

    function test_v3FlashSwap_V3ToV2() public {
        HopSpec[] memory hops = hops2(hop(V3, v3WethUsdc500, USDC, 500), hop(V2, v2WethUsdc, WETH, V2_FEE));
        uint256 amountIn = depth() / 500;
        dislocate(V2, v2WethUsdc, USDC, depth() / 40, WETH, amountIn, hops);
        assertCycle(V3_FLASH, WETH, amountIn, hops, "V3 flash V3->V2");
    }

    function test_v2FlashSwap_V2ToV3() public {
        HopSpec[] memory hops = hops2(hop(V2, v2WethUsdc, USDC, V2_FEE), hop(V3, v3WethUsdc500, WETH, 500));
        uint256 amountIn = depth() / 500;
        dislocate(V3, v3WethUsdc500, USDC, depth() / 10, WETH, amountIn, hops);
        assertCycle(V2_FLASH, WETH, amountIn, hops, "V2 flash V2->V3");
    }

    function test_ownBalance_V2ToV3() public {
        HopSpec[] memory hops = hops2(hop(V2, v2WethUsdc, USDC, V2_FEE), hop(V3, v3WethUsdc500, WETH, 500));
        uint256 amountIn = depth() / 500;
        dislocate(V3, v3WethUsdc500, USDC, depth() / 10, WETH, amountIn, hops);
        assertCycle(OWN_BALANCE, WETH, amountIn, hops, "own balance V2->V3");
    }

    function test_ownBalance_V3ToV2() public {
        HopSpec[] memory hops = hops2(hop(V3, v3WethUsdc500, USDC, 500), hop(V2, v2WethUsdc, WETH, V2_FEE));
        uint256 amountIn = depth() / 500;
        dislocate(V2, v2WethUsdc, USDC, depth() / 40, WETH, amountIn, hops);
        assertCycle(OWN_BALANCE, WETH, amountIn, hops, "own balance V3->V2");
    }

    function test_v3FlashSwap_V3ToV3() public {
        HopSpec[] memory hops = hops2(hop(V3, v3WethUsdc500, USDC, 500), hop(V3, v3WethUsdc3000, WETH, 3000));
        uint256 amountIn = depth() / 1000;
        dislocate(V3, v3WethUsdc3000, USDC, depth() / 20, WETH, amountIn, hops);
        assertCycle(V3_FLASH, WETH, amountIn, hops, "V3 flash V3->V3");
    }

    /// Profit in USDC: the cycle starts and ends in USDC.
    function test_v3FlashSwap_usdcCycle() public {
        HopSpec[] memory hops = hops2(hop(V3, v3WethUsdc500, WETH, 500), hop(V2, v2WethUsdc, USDC, V2_FEE));
        uint256 amountIn = usdcDepth() / 500;
        dislocate(V3, v3WethUsdc500, USDC, depth() / 10, USDC, amountIn, hops);
        assertCycle(V3_FLASH, USDC, amountIn, hops, "V3 flash USDC cycle");
    }

    // ------------------------------------------------------ three, four hops

    function test_v3FlashSwap_threeHops() public {
        HopSpec[] memory hops = hops3(
            hop(V3, v3WethUsdc500, USDC, 500), hop(V2, v2DaiUsdc, DAI, V2_FEE), hop(V2, v2WethDai, WETH, V2_FEE)
        );
        uint256 amountIn = depth() / 1000;
        dislocate(V2, v2WethDai, DAI, depth() / 80, WETH, amountIn, hops);
        assertCycle(V3_FLASH, WETH, amountIn, hops, "V3 flash 3 hops");
    }

    function test_v2FlashSwap_threeHops() public {
        HopSpec[] memory hops = hops3(
            hop(V2, v2WethDai, DAI, V2_FEE), hop(V2, v2DaiUsdc, USDC, V2_FEE), hop(V3, v3WethUsdc500, WETH, 500)
        );
        uint256 amountIn = depth() / 1000;
        dislocate(V3, v3WethUsdc500, USDC, depth() / 10, WETH, amountIn, hops);
        assertCycle(V2_FLASH, WETH, amountIn, hops, "V2 flash 3 hops");
    }

    function test_v2FlashSwap_fourHops() public {
        HopSpec[] memory hops = new HopSpec[](4);
        hops[0] = hop(V2, v2WethUsdc, USDC, V2_FEE);
        hops[1] = hop(V3, v3WethUsdc500, WETH, 500);
        hops[2] = hop(V3, v3WethDai3000, DAI, 3000);
        hops[3] = hop(V2, v2WethDai, WETH, V2_FEE);
        uint256 amountIn = depth() / 1000;
        dumpWeth(V2, v2WethDai, DAI, depth() / 80);
        dislocate(V3, v3WethUsdc500, USDC, depth() / 10, WETH, amountIn, hops);
        assertCycle(V2_FLASH, WETH, amountIn, hops, "V2 flash 4 hops");
    }

    /// Not a cycle: WETH in, DAI out; DAI is the declared profit token and minProfit is the minimum output.
    function test_ownBalance_declaredProfitToken() public {
        HopSpec[] memory hops = hops2(hop(V3, v3WethUsdc500, USDC, 500), hop(V2, v2DaiUsdc, DAI, V2_FEE));
        uint256 amountIn = 1e18;
        _give(WETH, address(this), amountIn);
        uint256 snap = vm.snapshotState();
        uint256 daiOut = replay(WETH, amountIn, hops);
        vm.revertToState(snap);
        _give(WETH, address(executor), amountIn);
        uint256 daiBefore = IERC20(DAI).balanceOf(address(executor));

        bytes memory tooGreedy = encodeRoute(OWN_BALANCE, PAY_NONE, amountIn, daiOut + 1, 0, WETH, hops);
        vm.expectRevert(
            abi.encodeWithSelector(Executor.InsufficientProfit.selector, daiBefore + daiOut, daiBefore + daiOut + 1)
        );
        run(tooGreedy);

        (uint256 profit,) = run(encodeRoute(OWN_BALANCE, PAY_NONE, amountIn, daiOut, 0, WETH, hops));
        assertEq(profit, daiOut, "DAI out");
        assertEq(IERC20(DAI).balanceOf(address(executor)), daiBefore + daiOut, "DAI balance");
    }

    /// One hop from own balance: the on-chain leg of a hedged AMM-CEX trade. minProfit is the minimum output,
    /// exact to the wei on V2 and V3, in both directions.
    function test_ownBalance_singleSwap() public {
        assertSingleSwap(hop(V3, v3WethUsdc500, USDC, 500), WETH, 2e18);
        assertSingleSwap(hop(V2, v2WethUsdc, WETH, V2_FEE), USDC, 3_000e6);
    }

    function assertSingleSwap(HopSpec memory h, address tokenIn, uint256 amountIn) internal {
        HopSpec[] memory one = new HopSpec[](1);
        one[0] = h;
        _give(tokenIn, address(this), amountIn);
        uint256 snap = vm.snapshotState();
        uint256 out = replay(tokenIn, amountIn, one);
        vm.revertToState(snap);
        _give(tokenIn, address(executor), amountIn);
        uint256 inBefore = IERC20(tokenIn).balanceOf(address(executor));
        uint256 outBefore = IERC20(h.tokenOut).balanceOf(address(executor));
        vm.expectRevert(
            abi.encodeWithSelector(Executor.InsufficientProfit.selector, outBefore + out, outBefore + out + 1)
        );
        run(encodeRoute(OWN_BALANCE, PAY_NONE, amountIn, out + 1, 0, tokenIn, one));
        (uint256 got, uint256 gasUsed) = run(encodeRoute(OWN_BALANCE, PAY_NONE, amountIn, out, 0, tokenIn, one));
        assertEq(got, out, "output != hand replay");
        assertEq(IERC20(h.tokenOut).balanceOf(address(executor)), outBefore + out, "output balance");
        assertEq(IERC20(tokenIn).balanceOf(address(executor)), inBefore - amountIn, "input balance");
        console.log("single swap gas (execute call)", gasUsed);
    }

    // ---------------------------------------------------------- unprofitable

    /// Undisturbed prices: a round trip loses the fees, and the guard names the numbers.
    function test_unprofitable_revertsInsufficientProfit() public {
        HopSpec[] memory hops = hops2(hop(V3, v3WethUsdc500, USDC, 500), hop(V2, v2WethUsdc, WETH, V2_FEE));
        uint256 amountIn = 1e18;
        int256 pnl = replayProfit(WETH, amountIn, hops);
        assertTrue(pnl < 0, "round trip should lose the fees");
        _give(WETH, address(executor), 1e18); // the flash swap's shortfall is paid from the balance
        uint256 before = IERC20(WETH).balanceOf(address(executor));
        uint256 minProfit = 123;
        vm.expectRevert(
            abi.encodeWithSelector(
                Executor.InsufficientProfit.selector, uint256(int256(before) + pnl), before + minProfit
            )
        );
        run(encodeRoute(V3_FLASH, PAY_NONE, amountIn, minProfit, 0, WETH, hops));
    }

    /// A profitable route still reverts when minProfit asks for one wei more than it makes.
    function test_minProfitIsExact() public {
        (HopSpec[] memory hops, uint256 amountIn) = dislocatedV3ToV2();
        uint256 expected = uint256(replayProfit(WETH, amountIn, hops));
        uint256 before = IERC20(WETH).balanceOf(address(executor));
        vm.expectRevert(
            abi.encodeWithSelector(Executor.InsufficientProfit.selector, before + expected, before + expected + 1)
        );
        run(encodeRoute(V3_FLASH, PAY_NONE, amountIn, expected + 1, 0, WETH, hops));
        (uint256 profit,) = run(encodeRoute(V3_FLASH, PAY_NONE, amountIn, expected, 0, WETH, hops));
        assertEq(profit, expected, "profit");
    }

    // ------------------------------------------------------- builder payment

    /// WETH cheap on V2: selling WETH on V3 then buying it back on V2 pays.
    function dislocatedV3ToV2() internal returns (HopSpec[] memory hops, uint256 amountIn) {
        hops = hops2(hop(V3, v3WethUsdc500, USDC, 500), hop(V2, v2WethUsdc, WETH, V2_FEE));
        amountIn = depth() / 500;
        dislocate(V2, v2WethUsdc, USDC, depth() / 40, WETH, amountIn, hops);
    }

    function test_builderPayment_wei() public {
        (HopSpec[] memory hops, uint256 amountIn) = dislocatedV3ToV2();
        uint256 gross = uint256(replayProfit(WETH, amountIn, hops));
        uint256 payment = gross / 3;
        uint256 before = IERC20(WETH).balanceOf(address(executor));
        uint256 builderBefore = builder.balance;

        // asking for the payment plus more than what is left reverts, naming both numbers
        vm.expectRevert(
            abi.encodeWithSelector(Executor.InsufficientProfit.selector, before + gross, before + gross + 1)
        );
        run(encodeRoute(V3_FLASH, PAY_WEI, amountIn, gross - payment + 1, payment, WETH, hops));

        (uint256 profit,) = run(encodeRoute(V3_FLASH, PAY_WEI, amountIn, gross - payment, payment, WETH, hops));
        assertEq(profit, gross - payment, "net profit");
        assertEq(builder.balance, builderBefore + payment, "builder paid in ETH");
        assertEq(IERC20(WETH).balanceOf(address(executor)), before + gross - payment, "WETH kept");
        assertEq(address(executor).balance, 0, "no ETH left behind");
    }

    function test_builderPayment_bps() public {
        (HopSpec[] memory hops, uint256 amountIn) = dislocatedV3ToV2();
        uint256 gross = uint256(replayProfit(WETH, amountIn, hops));
        uint256 payment = gross * 9000 / 10_000;
        uint256 before = IERC20(WETH).balanceOf(address(executor));
        (uint256 profit,) = run(encodeRoute(V3_FLASH, PAY_BPS, amountIn, 0, 9000, WETH, hops));
        assertEq(profit, gross - payment, "net profit");
        assertEq(builder.balance, payment, "builder got 90% of the gross profit");
        assertEq(IERC20(WETH).balanceOf(address(executor)), before + gross - payment, "WETH kept");
    }

    /// With a non-WETH profit token the wei come from the executor's ETH balance.
    function test_builderPayment_fromEthBalance() public {
        HopSpec[] memory hops = hops2(hop(V3, v3WethUsdc500, WETH, 500), hop(V2, v2WethUsdc, USDC, V2_FEE));
        uint256 amountIn = usdcDepth() / 500;
        dislocate(V3, v3WethUsdc500, USDC, depth() / 10, USDC, amountIn, hops);
        uint256 gross = uint256(replayProfit(USDC, amountIn, hops));
        bytes memory route = encodeRoute(V3_FLASH, PAY_WEI, amountIn, 0, 0.01 ether, USDC, hops);

        vm.expectRevert(Guarded.PaymentFailed.selector); // no ETH yet
        run(route);

        vm.deal(address(executor), 0.25 ether);
        (uint256 profit,) = run(route);
        assertEq(profit, gross, "USDC profit untouched");
        assertEq(builder.balance, 0.01 ether, "builder paid");
        assertEq(address(executor).balance, 0.24 ether, "paid from ETH balance");
    }

    function test_bpsPaymentNeedsWethProfit() public {
        HopSpec[] memory hops = hops2(hop(V3, v3WethUsdc500, WETH, 500), hop(V2, v2WethUsdc, USDC, V2_FEE));
        _give(USDC, address(executor), 1e6);
        vm.expectRevert(Executor.BadRoute.selector);
        run(encodeRoute(V3_FLASH, PAY_BPS, 1e6, 0, 100, USDC, hops));
    }

    function test_aaveFunding_notSupportedYet() public {
        HopSpec[] memory hops = hops2(hop(V3, v3WethUsdc500, USDC, 500), hop(V2, v2WethUsdc, WETH, V2_FEE));
        vm.expectRevert(Executor.NotSupported.selector);
        run(encodeRoute(AAVE_FLASH, PAY_NONE, 1e18, 0, 0, WETH, hops));
    }
}

interface IV2PairReserves {
    function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast);
}
