// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, console} from "./Vm.sol";
import {Liquidator} from "../Liquidator.sol";
import {IV2Router, IV3Router02} from "../AaveLoop.sol";
import {Guarded} from "../Guarded.sol";

interface IToken {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
    function approve(address spender, uint256 amount) external returns (bool);
    function allowance(address owner, address spender) external view returns (uint256);
}

/// The Aave v3.6 Pool calls these tests make as borrower and as a plain liquidator.
interface IPoolForTests {
    function supply(address asset, uint256 amount, address onBehalfOf, uint16 referral) external;
    function borrow(address asset, uint256 amount, uint256 rateMode, uint16 referral, address onBehalfOf) external;
    function liquidationCall(address collateral, address debt, address user, uint256 debtToCover, bool receiveAToken)
        external;
    function getReserveVariableDebtToken(address asset) external view returns (address);
    function FLASHLOAN_PREMIUM_TOTAL() external view returns (uint128);
    function getUserAccountData(address user)
        external
        view
        returns (uint256, uint256, uint256, uint256, uint256, uint256 healthFactor);
}

interface IAaveOracle {
    function getSourceOfAsset(address asset) external view returns (address);
}

/// A price source is Chainlink's AggregatorProxy; behind it the replica's OCR2 aggregator takes DON-signed
/// reports (contracts/replica/ReplicaAggregator.sol, src/defibots/devnet/ocr_feed.py).
interface IFeedProxy {
    function aggregator() external view returns (address);
}

interface IOcr2Aggregator {
    function transmitters() external view returns (address[] memory);
    function latestConfigDigestAndEpoch() external view returns (bool scanLogs, bytes32 configDigest, uint32 epoch);
    function transmit(bytes32[3] calldata reportContext, bytes calldata report, bytes32[] calldata rs,
        bytes32[] calldata ss, bytes32 rawVs) external;
}

interface SignVm {
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
}

/// Log recording, which the shared Vm.sol subset leaves out (same cheatcode address).
interface LogVm {
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory logs);
}

/// @notice Liquidations on the devnet replica (Aave v3.6 and Uniswap at mainnet addresses). A fresh borrower
///         borrows near its limit, a feed update makes it liquidatable, and the contract's numbers are checked
///         against the Pool's own: a plain account's liquidationCall (and swap) replayed on a snapshot, and the
///         Pool's LiquidationCall event in the same transaction. Needs `defibots devnet exec -- forge test`.
contract LiquidatorTest is Test {
    address internal constant POOL = 0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2;
    address internal constant ORACLE = 0x54586bE62E3c3580375aE3723C145253060Ca0C2;
    address internal constant V2_ROUTER = 0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D;
    address internal constant V3_ROUTER02 = 0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45;
    address internal constant WETH = 0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2;
    address internal constant USDC = 0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48;
    /// anvil's first dev account: the replica funds it with WETH and stablecoins.
    address internal constant FUNDED = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;
    bytes32 internal constant POOL_LIQUIDATION_CALL =
        keccak256("LiquidationCall(address,address,address,uint256,uint256,address,bool)");
    LogVm internal constant logs = LogVm(address(uint160(uint256(keccak256("hevm cheat code")))));

    Liquidator internal liq;
    address internal bot = address(0xB07);
    address internal borrower = address(0xB0880);
    address internal plain = address(0x9141);
    address internal builder = address(0xB111D);

    /// What one liquidation reported: its Liquidated event, and the Pool's LiquidationCall from the same call.
    struct Outcome {
        uint256 debtCovered;
        uint256 collateralSeized;
        uint256 swapOut;
        uint256 premium;
        uint256 profit;
        uint256 poolDebtCovered;
        uint256 poolCollateralSeized;
        uint256 gas;
    }

    function setUp() public {
        string memory rpc = vm.envOr("DEFIBOTS_RPC_URL", string(""));
        require(bytes(rpc).length > 0, "Liquidator tests fork the replica: run them with defibots devnet exec");
        vm.createSelectFork(rpc);
        address[] memory callers = new address[](1);
        callers[0] = bot;
        liq = new Liquidator(address(this), callers);
        vm.coinbase(builder);
    }

    // ------------------------------------------------------------------ helpers

    function _give(address to, address token, uint256 amount) internal {
        vm.prank(FUNDED);
        IToken(token).transfer(to, amount);
    }

    /// A report with `price8` as its median, signed by f + 1 = 2 of the devnet DON's signers and sent by its
    /// transmitter, as the price driver does.
    function _setPrice(address asset, int256 price8) internal {
        IOcr2Aggregator feed = IOcr2Aggregator(IFeedProxy(IAaveOracle(ORACLE).getSourceOfAsset(asset)).aggregator());
        (, bytes32 digest, uint32 epoch) = feed.latestConfigDigestAndEpoch();
        int192[] memory observations = new int192[](3);
        for (uint256 i = 0; i < 3; i++) {
            observations[i] = int192(price8);
        }
        bytes memory report = abi.encode(uint32(block.timestamp), bytes32(0), observations, int192(0));
        bytes32[3] memory context = [digest, bytes32(uint256(epoch + 1) << 8), bytes32(0)];
        bytes32 h = keccak256(abi.encode(keccak256(report), context));
        bytes32[] memory rs = new bytes32[](2);
        bytes32[] memory ss = new bytes32[](2);
        bytes memory vs = new bytes(32);
        for (uint256 i = 0; i < 2; i++) {
            uint256 key = uint256(keccak256(abi.encodePacked("defibots replica ocr signer ", bytes1(uint8(48 + i)))));
            (uint8 v, bytes32 r, bytes32 sig) = SignVm(address(vm)).sign(key, h);
            (rs[i], ss[i], vs[i]) = (r, sig, bytes1(v - 27));
        }
        vm.prank(feed.transmitters()[0]);
        feed.transmit(context, report, rs, ss, bytes32(vs));
    }

    function _debt(address asset, address user) internal view returns (uint256) {
        return IToken(IPoolForTests(POOL).getReserveVariableDebtToken(asset)).balanceOf(user);
    }

    function _healthFactor(address user) internal view returns (uint256 hf) {
        (,,,,, hf) = IPoolForTests(POOL).getUserAccountData(user);
    }

    /// `borrower` supplies the collateral amounts and borrows `borrowed` of `debt` (variable rate).
    function _open(address[2] memory collateral, uint256[2] memory supplied, address debt, uint256 borrowed) internal {
        for (uint256 i = 0; i < 2; ++i) {
            if (supplied[i] == 0) continue;
            _give(borrower, collateral[i], supplied[i]);
            vm.startPrank(borrower);
            IToken(collateral[i]).approve(POOL, supplied[i]);
            IPoolForTests(POOL).supply(collateral[i], supplied[i], borrower, 0);
            vm.stopPrank();
        }
        vm.prank(borrower);
        IPoolForTests(POOL).borrow(debt, borrowed, 2, 0, borrower);
    }

    /// 10 WETH supplied, 24,000 USDC borrowed (HF 1.04 at $3,000); WETH to $2,850 puts HF at 0.986: liquidatable,
    /// above 0.95, so the 50% close factor applies.
    function _usdcDebtBorrower() internal {
        _open([WETH, address(0)], [uint256(10 ether), 0], USDC, 24_000e6);
        _setPrice(WETH, 2850e8);
    }

    /// 30,000 USDC supplied, 7.4 WETH borrowed (HF 1.05); WETH to $3,230 puts HF at 0.979.
    function _wethDebtBorrower() internal {
        _open([USDC, address(0)], [uint256(30_000e6), 0], WETH, 7.4 ether);
        _setPrice(WETH, 3230e8);
    }

    function _order(address collateral, address debt, uint256 debtToCover, uint24 fee)
        internal
        view
        returns (Liquidator.Liquidation memory)
    {
        return Liquidator.Liquidation(collateral, debt, borrower, debtToCover, fee, 0, 0, 0);
    }

    /// What a plain account gets from liquidationCall(debtToCover) and from selling it all through the same
    /// router, replayed on a snapshot that is then discarded.
    function _replay(Liquidator.Liquidation memory l)
        internal
        returns (uint256 seized, uint256 swapOut, uint256 debtAfter)
    {
        uint256 snapshot = vm.snapshotState();
        _give(plain, l.debt, l.debtToCover);
        vm.startPrank(plain);
        IToken(l.debt).approve(POOL, l.debtToCover);
        IPoolForTests(POOL).liquidationCall(l.collateral, l.debt, l.user, l.debtToCover, false);
        seized = IToken(l.collateral).balanceOf(plain);
        debtAfter = _debt(l.debt, l.user);
        if (l.swapFee == 0) {
            IToken(l.collateral).approve(V2_ROUTER, seized);
            address[] memory path = new address[](2);
            (path[0], path[1]) = (l.collateral, l.debt);
            swapOut = IV2Router(V2_ROUTER).swapExactTokensForTokens(seized, 0, path, plain, block.timestamp)[1];
        } else {
            IToken(l.collateral).approve(V3_ROUTER02, seized);
            IV3Router02.ExactInputSingleParams memory p =
                IV3Router02.ExactInputSingleParams(l.collateral, l.debt, l.swapFee, plain, seized, 0, 0);
            swapOut = IV3Router02(V3_ROUTER02).exactInputSingle(p);
        }
        vm.stopPrank();
        vm.revertToState(snapshot);
    }

    /// Runs the liquidation as the bot and reads back its event and the Pool's.
    function _liquidate(Liquidator.Liquidation memory l) internal returns (Outcome memory o) {
        logs.recordLogs();
        vm.prank(bot);
        uint256 gasBefore = gasleft();
        uint256 profit = liq.liquidate(l);
        o.gas = gasBefore - gasleft();
        LogVm.Log[] memory entries = logs.getRecordedLogs();
        uint256 found;
        for (uint256 i = 0; i < entries.length; ++i) {
            LogVm.Log memory e = entries[i];
            if (e.emitter == address(liq) && e.topics[0] == Liquidator.Liquidated.selector) {
                assertEq(e.topics[1], bytes32(uint256(uint160(l.user))), "user topic");
                assertEq(e.topics[2], bytes32(uint256(uint160(l.collateral))), "collateral topic");
                assertEq(e.topics[3], bytes32(uint256(uint160(l.debt))), "debt topic");
                (o.debtCovered, o.collateralSeized, o.swapOut, o.premium, o.profit) =
                    abi.decode(e.data, (uint256, uint256, uint256, uint256, uint256));
                ++found;
            } else if (e.emitter == POOL && e.topics[0] == POOL_LIQUIDATION_CALL) {
                (o.poolDebtCovered, o.poolCollateralSeized,,) = abi.decode(e.data, (uint256, uint256, address, bool));
                ++found;
            }
        }
        assertEq(found, 2, "one Liquidated and one LiquidationCall event");
        assertEq(o.profit, profit, "the event's profit is the one returned");
    }

    function _premium(uint256 amount) internal view returns (uint256) {
        uint256 bps = IPoolForTests(POOL).FLASHLOAN_PREMIUM_TOTAL();
        return (amount * bps + 9999) / 10_000; // Aave's percentMulCeil
    }

    function _assertNothingApproved(address token) internal view {
        assertEq(IToken(token).allowance(address(liq), POOL), 0, "no allowance left for the Pool");
        assertEq(IToken(token).allowance(address(liq), V3_ROUTER02), 0, "no allowance left for SwapRouter02");
        assertEq(IToken(token).allowance(address(liq), V2_ROUTER), 0, "no allowance left for the V2 router");
    }

    /// Debt-token balances are scaled amounts times an index, rounded: they may differ from the sum by 1 wei.
    function _assertWithinOneWei(uint256 a, uint256 b, string memory why) internal pure {
        assertTrue(a <= b + 1 && b <= a + 1, why);
    }

    function assertEq(bytes32 a, bytes32 b, string memory why) internal pure {
        vm.assertEq(a, b, why);
    }

    // -------------------------------------------------------------------- tests

    function testLiquidatesHalfTheDebtAtThePoolsOwnNumbers() public {
        _usdcDebtBorrower();
        uint256 debt0 = _debt(USDC, borrower);
        assertTrue(debt0 - 24_000e6 <= 1, "fresh debt: no interest yet, v3.6 rounds the debt up by at most 1 wei");
        assertTrue(_healthFactor(borrower) > 0.95e18 && _healthFactor(borrower) < 1e18, "50% close factor range");
        Liquidator.Liquidation memory l = _order(WETH, USDC, debt0 / 2, 500);
        (uint256 seized, uint256 swapOut, uint256 debtAfter) = _replay(l);
        l.minSwapOut = swapOut; // the exact quote is enough

        Outcome memory o = _liquidate(l);
        console.log("gas of one liquidation (WETH collateral, USDC debt, V3 500)", o.gas);

        uint256 premium = _premium(l.debtToCover);
        assertEq(_debt(USDC, borrower), debtAfter, "the borrower's debt is what a plain liquidation leaves");
        _assertWithinOneWei(debtAfter + l.debtToCover, debt0, "it fell by debtToCover (balanceOf rounds up)");
        assertEq(o.debtCovered, l.debtToCover, "event: debt covered");
        assertEq(o.poolDebtCovered, l.debtToCover, "Pool event: debt covered");
        assertEq(o.collateralSeized, seized, "event: collateral seized = a plain liquidator's");
        assertEq(o.poolCollateralSeized, seized, "Pool event: collateral seized");
        assertEq(o.swapOut, swapOut, "event: swap output = the same sale replayed");
        assertEq(o.premium, premium, "event: flash premium");
        assertEq(o.profit, swapOut - l.debtToCover - premium, "profit = sale - debt covered - premium");
        assertEq(IToken(USDC).balanceOf(address(liq)), o.profit, "profit is the balance growth");
        assertGt(o.profit, 1_000e6, "a 5% bonus on $12,000 at the pool's $3,000 price");
        assertEq(IToken(WETH).balanceOf(address(liq)), 0, "all the collateral was sold");
        _assertNothingApproved(USDC);
        _assertNothingApproved(WETH);
    }

    function testSellsThroughTheV2Router() public {
        _usdcDebtBorrower();
        Liquidator.Liquidation memory l = _order(WETH, USDC, 12_000e6, 0);
        (uint256 seized, uint256 swapOut, uint256 debtAfter) = _replay(l);
        Outcome memory o = _liquidate(l);
        assertEq(o.collateralSeized, seized, "collateral seized");
        assertEq(o.swapOut, swapOut, "swap output = the same V2 sale replayed");
        assertEq(_debt(USDC, borrower), debtAfter, "the borrower's debt is what a plain liquidation leaves");
        assertEq(o.profit, o.swapOut - 12_000e6 - _premium(12_000e6), "profit = sale - debt covered - premium");
        assertEq(IToken(USDC).balanceOf(address(liq)), o.profit, "profit is the balance growth");
        assertEq(IToken(WETH).balanceOf(address(liq)), 0, "all the collateral was sold");
        _assertNothingApproved(WETH);
        _assertNothingApproved(USDC);
    }

    function testMinProfitOneWeiAboveTheAchievableReverts() public {
        _usdcDebtBorrower();
        Liquidator.Liquidation memory l = _order(WETH, USDC, 12_000e6, 500);
        uint256 snapshot = vm.snapshotState();
        vm.prank(bot);
        uint256 achievable = liq.liquidate(l);
        vm.revertToState(snapshot);

        l.minProfit = achievable + 1;
        vm.prank(bot);
        vm.expectRevert(abi.encodeWithSelector(Liquidator.InsufficientProfit.selector, achievable, achievable + 1));
        liq.liquidate(l);

        l.minProfit = achievable; // exactly achievable passes
        vm.prank(bot);
        assertEq(liq.liquidate(l), achievable, "the same profit");
    }

    function testMinSwapOutGuardsTheSale() public {
        _usdcDebtBorrower();
        Liquidator.Liquidation memory l = _order(WETH, USDC, 12_000e6, 500);
        (, uint256 swapOut,) = _replay(l);
        l.minSwapOut = swapOut + 1;
        vm.prank(bot);
        vm.expectRevert(bytes("Too little received"));
        liq.liquidate(l);
    }

    function testHealthyUserRevertsWithAavesError() public {
        _open([WETH, address(0)], [uint256(10 ether), 0], USDC, 24_000e6); // HF 1.04: not liquidatable
        vm.prank(bot);
        vm.expectRevert(bytes4(keccak256("HealthFactorNotBelowThreshold()")));
        liq.liquidate(_order(WETH, USDC, 12_000e6, 500));
    }

    function testWethDebtPaysTheBuilderOutOfProfit() public {
        _wethDebtBorrower();
        uint256 debt0 = _debt(WETH, borrower);
        Liquidator.Liquidation memory l = _order(USDC, WETH, debt0 / 2, 500);
        (uint256 seized, uint256 swapOut, uint256 debtAfter) = _replay(l);
        uint256 premium = _premium(l.debtToCover);
        uint256 gross = swapOut - l.debtToCover - premium;
        l.builderPayment = 0.1 ether;

        // one wei short of covering minProfit plus the payment: the numbers count the payment
        l.minProfit = gross - l.builderPayment + 1;
        vm.prank(bot);
        vm.expectRevert(abi.encodeWithSelector(Liquidator.InsufficientProfit.selector, gross, gross + 1));
        liq.liquidate(l);

        l.minProfit = gross - l.builderPayment;
        uint256 builderBefore = builder.balance;
        Outcome memory o = _liquidate(l);
        console.log("gas of one liquidation (USDC collateral, WETH debt, builder paid)", o.gas);
        assertEq(builder.balance - builderBefore, 0.1 ether, "the builder got its wei");
        assertEq(_debt(WETH, borrower), debtAfter, "the borrower's debt is what a plain liquidation leaves");
        _assertWithinOneWei(debtAfter + l.debtToCover, debt0, "it fell by debtToCover (balanceOf rounds up)");
        assertEq(o.debtCovered, l.debtToCover, "event: debt covered");
        assertEq(o.collateralSeized, seized, "collateral seized = a plain liquidator's");
        assertEq(o.poolCollateralSeized, seized, "Pool event: collateral seized");
        assertEq(o.swapOut, swapOut, "swap output");
        assertEq(o.profit, gross - 0.1 ether, "net profit: the payment came out of it");
        assertEq(IToken(WETH).balanceOf(address(liq)), o.profit, "net profit is the WETH balance growth");
        assertEq(address(liq).balance, 0, "the unwrapped payment all went to the builder");
        _assertNothingApproved(USDC);
        _assertNothingApproved(WETH);
    }

    function testOtherDebtPaysTheBuilderFromTheEthBalance() public {
        _usdcDebtBorrower();
        Liquidator.Liquidation memory l = _order(WETH, USDC, 12_000e6, 500);
        l.builderPayment = 0.05 ether;
        vm.prank(bot);
        vm.expectRevert(Guarded.PaymentFailed.selector); // no ETH to pay with
        liq.liquidate(l);

        vm.deal(address(liq), 0.08 ether);
        uint256 builderBefore = builder.balance;
        Outcome memory o = _liquidate(l);
        assertEq(builder.balance - builderBefore, 0.05 ether, "the builder got its wei");
        assertEq(address(liq).balance, 0.03 ether, "paid from the ETH balance");
        assertEq(IToken(USDC).balanceOf(address(liq)), o.profit, "the USDC profit is untouched by the payment");
    }

    /// Same asset both sides and too little of it: Aave covers less than asked; no swap.
    function testSameAssetCollateralCoversWhatThePoolTakes() public {
        // 30,000 USDC + 2 WETH supplied, 9 WETH borrowed; WETH to $3,300 puts HF at 0.97
        _open([USDC, WETH], [uint256(30_000e6), 2 ether], WETH, 9 ether);
        _setPrice(WETH, 3300e8);
        uint256 debt0 = _debt(WETH, borrower);
        Liquidator.Liquidation memory l = _order(WETH, WETH, 4.5 ether, 500);
        Outcome memory o = _liquidate(l);
        assertTrue(o.debtCovered < 2 ether, "capped by the 2 WETH of collateral");
        assertEq(o.debtCovered, o.poolDebtCovered, "debt covered = the Pool's");
        assertEq(o.collateralSeized, o.poolCollateralSeized, "collateral seized = the Pool's");
        assertEq(o.swapOut, o.collateralSeized, "no swap: the collateral is the debt asset");
        assertEq(o.premium, _premium(4.5 ether), "premium on the full flash loan");
        assertEq(o.profit, o.collateralSeized - o.debtCovered - o.premium, "profit");
        assertEq(IToken(WETH).balanceOf(address(liq)), o.profit, "profit is the balance growth");
        _assertWithinOneWei(_debt(WETH, borrower) + o.debtCovered, debt0, "debt fell by what was covered");
        _assertNothingApproved(WETH); // the part of the approval the Pool did not pull was revoked
    }

    function testOnlyOwnerAndCallersLiquidateAndOnlyTheOwnerWithdraws() public {
        _usdcDebtBorrower();
        Liquidator.Liquidation memory l = _order(WETH, USDC, 12_000e6, 500);
        address stranger = address(0xBAD);
        vm.startPrank(stranger);
        vm.expectRevert(Guarded.Unauthorized.selector);
        liq.liquidate(l);
        vm.expectRevert(Guarded.Unauthorized.selector);
        liq.withdrawToken(USDC, stranger, 1);
        vm.expectRevert(Guarded.Unauthorized.selector);
        liq.withdrawEth(payable(stranger), 0);
        vm.expectRevert(Guarded.Unauthorized.selector);
        liq.setCaller(stranger, true);
        vm.expectRevert(Guarded.Unauthorized.selector);
        liq.transferOwnership(stranger);
        vm.expectRevert(Liquidator.BadFlashCallback.selector);
        liq.executeOperation(USDC, 12_000e6, 6e6, address(liq), abi.encode(l));
        vm.stopPrank();
        vm.startPrank(POOL); // even the Pool, outside a liquidation the contract started
        vm.expectRevert(Liquidator.BadFlashCallback.selector);
        liq.executeOperation(USDC, 12_000e6, 6e6, address(liq), abi.encode(l));
        vm.stopPrank();

        vm.prank(bot);
        uint256 profit = liq.liquidate(l);
        vm.startPrank(bot); // the bot liquidates but never takes funds out
        vm.expectRevert(Guarded.Unauthorized.selector);
        liq.withdrawToken(USDC, bot, profit);
        vm.expectRevert(Guarded.Unauthorized.selector);
        liq.setCaller(stranger, true);
        vm.stopPrank();

        uint256 ownerBefore = IToken(USDC).balanceOf(address(this));
        liq.withdrawToken(USDC, address(this), type(uint256).max);
        assertEq(IToken(USDC).balanceOf(address(this)) - ownerBefore, profit, "the owner takes the profit");
        vm.deal(address(liq), 1 ether);
        liq.withdrawEth(payable(address(0xE7)), type(uint256).max);
        assertEq(address(0xE7).balance, 1 ether, "the owner takes the ETH");

        liq.setCaller(bot, false);
        vm.prank(bot);
        vm.expectRevert(Guarded.Unauthorized.selector);
        liq.liquidate(l);
    }

    function testOwnershipMovesInTwoSteps() public {
        address next = address(0x2E7);
        liq.transferOwnership(next);
        assertEq(liq.owner(), address(this), "still the owner until accepted");
        vm.prank(address(0xBAD));
        vm.expectRevert(Guarded.Unauthorized.selector);
        liq.acceptOwnership();
        vm.prank(next);
        liq.acceptOwnership();
        assertEq(liq.owner(), next, "accepted");
        assertEq(liq.pendingOwner(), address(0), "nothing pending");
        vm.expectRevert(Guarded.Unauthorized.selector);
        liq.withdrawEth(payable(address(this)), 0);
    }

    receive() external payable {}
}
