// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, Vm} from "./Vm.sol";
import {AaveLoop, IAavePool} from "../AaveLoop.sol";

interface IToken {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
    function approve(address spender, uint256 amount) external returns (bool);
}

/// @notice The world the loop tests fork: the devnet replica (Aave v3.6 and Uniswap at mainnet addresses).
///         These tests need it (`defibots devnet exec -- forge test`): without DEFIBOTS_RPC_URL they fail.
abstract contract AaveLoopFixture is Test {
    address internal constant POOL = 0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2;
    address internal constant V2_ROUTER = 0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D;
    address internal constant V3_ROUTER02 = 0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45;
    address internal constant WETH = 0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2;
    address internal constant USDC = 0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48;
    address internal constant USDT = 0xdAC17F958D2ee523a2206206994597C13D831ec7;
    /// anvil's first dev account: the replica funds it with WETH and stablecoins.
    address internal constant FUNDED = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;

    AaveLoop internal loop;
    address internal bot = address(0xB07);

    function setUp() public virtual {
        string memory rpc = vm.envOr("DEFIBOTS_RPC_URL", string(""));
        require(bytes(rpc).length > 0, "AaveLoop tests fork the replica: run them with defibots devnet exec");
        vm.createSelectFork(rpc);
        loop = new AaveLoop(POOL, V2_ROUTER, V3_ROUTER02);
        loop.setAllowed(bot, true);
        _fund(WETH, 100 ether);
        _fund(USDC, 500_000e6);
        _fund(USDT, 500_000e6);
        IToken(WETH).approve(address(loop), type(uint256).max);
        IToken(USDC).approve(address(loop), type(uint256).max);
        _call(USDT, abi.encodeWithSelector(IToken.approve.selector, address(loop), type(uint256).max));
    }

    function _fund(address token, uint256 amount) internal {
        vm.prank(FUNDED);
        _call(token, abi.encodeWithSelector(IToken.transfer.selector, address(this), amount));
    }

    function _call(address token, bytes memory data) internal {
        (bool ok,) = token.call(data);
        require(ok, "token call failed");
    }

    function _account() internal view returns (uint256 collateral, uint256 debt, uint256 hf) {
        (collateral, debt,,,, hf) = IAavePool(POOL).getUserAccountData(address(loop));
    }

    /// A long: 10 WETH deposit levered to 3x (20 WETH flash-borrowed, bought back with borrowed USDC).
    function _openLong() internal returns (AaveLoop.Step memory step) {
        step = AaveLoop.Step(WETH, USDC, 20 ether, 62_000e6, AaveLoop.Swap(500, 62_000e6, 0), 1.1e18);
        step.swap.minOut = 20.01 ether;
        loop.open(10 ether, step);
    }
}

contract AaveLoopTest is AaveLoopFixture {
    function testOpenLongLeversThreeTimesAndClosesToTheOwner() public {
        uint256 before = IToken(WETH).balanceOf(address(this));
        uint256 usdcBefore = IToken(USDC).balanceOf(address(this));
        _openLong();
        (uint256 collateral, uint256 debt, uint256 hf) = _account();
        assertGt(collateral, debt * 14 / 10, "collateral over debt");
        assertGe(debt, 62_000e8, "debt in base units is the USDC borrowed");
        assertGe(hf, 1.1e18, "health factor guard");
        assertTrue(hf < 1.4e18, "the position is levered");
        assertEq(IToken(WETH).balanceOf(address(loop)), 0, "every WETH bought is supplied");

        // close: flash the debt plus a margin for interest, repay all, withdraw all, sell enough WETH
        AaveLoop.Step memory close = AaveLoop.Step(
            WETH, USDC, 62_100e6, type(uint256).max, AaveLoop.Swap(500, 20.9 ether, 62_100e6 * 10009 / 10000), 0
        );
        loop.close(close);
        (collateral, debt,) = _account();
        assertEq(collateral, 0, "no collateral left");
        assertEq(debt, 0, "no debt left");
        uint256 back = IToken(WETH).balanceOf(address(this)) - (before - 10 ether);
        assertGt(back, 9.5 ether, "the deposit comes back less swap fees, impact and the flash premium");
        assertTrue(back < 10 ether, "costs were paid");
        assertEq(IToken(USDC).balanceOf(address(loop)), 0, "nothing stays in the loop");
        assertGt(IToken(USDC).balanceOf(address(this)), usdcBefore, "the USDC left after the flash repay came back");
    }

    function testShortUsdtCollateralBorrowsWeth() public {
        AaveLoop.Step memory step =
            AaveLoop.Step(USDT, WETH, 30_000e6, 10.1 ether, AaveLoop.Swap(3000, 10.1 ether, 30_030e6), 1.1e18);
        loop.open(30_000e6, step);
        (uint256 collateral, uint256 debt, uint256 hf) = _account();
        assertGt(collateral, 59_000e8, "about 2x the deposit supplied");
        assertGt(debt, 29_000e8, "WETH debt");
        assertGe(hf, 1.1e18, "health factor guard");
    }

    function testBoostAndRepayMoveLeverageBothWays() public {
        _openLong();
        (, uint256 debt0,) = _account();
        AaveLoop.Step memory up =
            AaveLoop.Step(WETH, USDC, 3 ether, 9_400e6, AaveLoop.Swap(0, 9_400e6, 3.0 ether), 1.05e18);
        vm.prank(bot);
        loop.boost(up);
        (, uint256 debt1, uint256 hf1) = _account();
        assertGt(debt1, debt0, "boost borrows more");
        AaveLoop.Step memory down =
            AaveLoop.Step(WETH, USDC, 20_000e6, 7 ether, AaveLoop.Swap(500, 7 ether, 20_010e6), 1.05e18);
        vm.prank(bot);
        loop.repay(down);
        (, uint256 debt2, uint256 hf2) = _account();
        assertTrue(debt2 < debt1 - 19_000e8, "repay pays debt down");
        assertGt(hf2, hf1, "repay raises the health factor");
    }

    function testHealthFactorGuardReverts() public {
        AaveLoop.Step memory step =
            AaveLoop.Step(WETH, USDC, 20 ether, 62_000e6, AaveLoop.Swap(500, 62_000e6, 20.01 ether), 1.5e18);
        vm.expectRevert();
        loop.open(10 ether, step);
    }

    function testSwapShortReverts() public {
        // borrows too little USDC to buy back the flash-borrowed WETH plus premium
        AaveLoop.Step memory step =
            AaveLoop.Step(WETH, USDC, 20 ether, 50_000e6, AaveLoop.Swap(500, 50_000e6, 0), 1.05e18);
        vm.expectRevert();
        loop.open(10 ether, step);
    }

    function testFuzzOpenLongHoldsItsGuards(uint256 flashSeed, uint256 marginSeed) public {
        uint256 flash = bound(flashSeed, 1 ether, 18 ether);
        uint256 margin = bound(marginSeed, 20, 300); // bps over $3,000 per WETH to cover fee and impact
        uint256 borrow = flash * 3000 * (10_000 + margin) / 10_000 / 1e12;
        AaveLoop.Step memory step =
            AaveLoop.Step(WETH, USDC, flash, borrow, AaveLoop.Swap(500, borrow, flash * 10_005 / 10_000), 1.05e18);
        try loop.open(10 ether, step) {
            (uint256 collateral, uint256 debt, uint256 hf) = _account();
            assertGe(hf, 1.05e18, "guard held");
            assertGe(debt, borrow * 100, "debt is what was borrowed (base units)");
            assertGt(collateral, (10 ether + flash) * 2990 / 1e10, "deposit and flash are supplied");
            assertEq(IToken(WETH).balanceOf(address(loop)), 0, "nothing idles");
        } catch {
            (uint256 collateral, uint256 debt,) = _account();
            assertEq(collateral + debt, 0, "a failed open leaves no position");
        }
    }

    function testOnlyOwnerAndAllowedCallersActAndCallbackIsGuarded() public {
        AaveLoop.Step memory step = _openLong();
        address stranger = address(0xBAD);
        vm.startPrank(stranger);
        vm.expectRevert(AaveLoop.NotAllowed.selector);
        loop.boost(step);
        vm.expectRevert(AaveLoop.NotAllowed.selector);
        loop.repay(step);
        vm.expectRevert(AaveLoop.NotOwner.selector);
        loop.close(step);
        vm.expectRevert(AaveLoop.NotOwner.selector);
        loop.withdraw(WETH, 1);
        vm.expectRevert(AaveLoop.NotOwner.selector);
        loop.sweep(WETH);
        vm.expectRevert(AaveLoop.NotOwner.selector);
        loop.setAllowed(stranger, true);
        vm.expectRevert(AaveLoop.NotOwner.selector);
        loop.open(0, step);
        vm.expectRevert(AaveLoop.BadFlashCallback.selector);
        loop.executeOperation(WETH, 1 ether, 0, address(loop), abi.encode(uint8(1), step));
        vm.stopPrank();
        vm.startPrank(POOL); // even the Pool, outside a loan the loop started
        vm.expectRevert(AaveLoop.BadFlashCallback.selector);
        loop.executeOperation(WETH, 1 ether, 0, address(loop), abi.encode(uint8(1), step));
        vm.stopPrank();
        vm.startPrank(bot); // the bot rebalances but never takes funds out
        vm.expectRevert(AaveLoop.NotOwner.selector);
        loop.close(step);
        vm.expectRevert(AaveLoop.NotOwner.selector);
        loop.withdraw(WETH, 1);
        vm.stopPrank();
    }
}

/// @notice Random strangers call every entry point with random steps; nothing of the position may move.
contract LoopStranger {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    AaveLoop internal immutable loop;
    address internal immutable owner;
    address internal immutable bot;
    uint256 public successes;

    constructor(AaveLoop loop_, address owner_, address bot_) {
        (loop, owner, bot) = (loop_, owner_, bot_);
    }

    function _actor(uint256 seed) internal view returns (address a) {
        a = address(uint160(uint256(keccak256(abi.encode(seed)))));
        if (a == owner || a == bot || a == address(0)) a = address(0xDEAD);
    }

    function _step(uint256 x) internal pure returns (AaveLoop.Step memory) {
        address usdc = 0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48;
        address weth = 0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2;
        return AaveLoop.Step(weth, usdc, x % 30 ether, x % 90_000e6, AaveLoop.Swap(uint24(x % 2) * 500, x % 1e22, 0), 0);
    }

    function boost(uint256 seed, uint256 x) external {
        vm.prank(_actor(seed));
        try loop.boost(_step(x)) { ++successes; } catch {}
    }

    function repay(uint256 seed, uint256 x) external {
        vm.prank(_actor(seed));
        try loop.repay(_step(x)) { ++successes; } catch {}
    }

    function close(uint256 seed, uint256 x) external {
        vm.prank(_actor(seed));
        try loop.close(_step(x)) { ++successes; } catch {}
    }

    function withdraw(uint256 seed, uint256 x) external {
        vm.prank(_actor(seed));
        try loop.withdraw(0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2, x) { ++successes; } catch {}
    }

    function callback(uint256 seed, uint256 x, bool asPool) external {
        vm.prank(asPool ? 0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2 : _actor(seed));
        try loop.executeOperation(
            0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2, x % 1e21, 0, address(loop), abi.encode(uint8(x % 4), _step(x))
        ) {
            ++successes;
        } catch {}
    }

    function setAllowed(uint256 seed, address who) external {
        vm.prank(_actor(seed));
        try loop.setAllowed(who, true) { ++successes; } catch {}
    }
}

/// forge-config: default.invariant.runs = 32
/// forge-config: default.invariant.depth = 25
contract AaveLoopInvariant is AaveLoopFixture {
    LoopStranger internal stranger;
    uint256 internal collateral0;
    uint256 internal debt0;

    function setUp() public override {
        super.setUp();
        _openLong();
        (collateral0, debt0,) = _account();
        stranger = new LoopStranger(loop, address(this), bot);
        targetContract(address(stranger));
    }

    function invariant_strangersMoveNothing() public view {
        (uint256 collateral, uint256 debt,) = _account();
        assertEq(stranger.successes(), 0, "no stranger call succeeds");
        assertEq(debt, debt0, "debt untouched");
        assertEq(collateral, collateral0, "collateral untouched");
        assertTrue(!loop.allowed(address(0xDEAD)), "no stranger allowed");
    }
}
