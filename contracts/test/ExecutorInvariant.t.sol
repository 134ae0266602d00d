// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "./Vm.sol";
import {ExecutorFixture, IERC20, IV2Pair} from "./ExecutorFixture.sol";
import {Executor} from "../Executor.sol";

/// @notice Everything a stranger can try: execute (real routes and junk), every owner function, both pool
///         callbacks (also while impersonating the canonical pools), flash swaps with the executor as
///         recipient. Actors are never the owner or an allowed caller. Counts any privileged call that succeeds.
contract StrangerHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    Executor internal immutable executor;
    address internal immutable owner;
    address internal immutable caller;
    address[3] internal tokens;
    address[2] internal pools; // canonical V3 pool, V2 pair
    bytes[] internal routes;

    uint256 public privilegedSuccesses;
    uint256 public calls;

    constructor(
        Executor executor_,
        address owner_,
        address caller_,
        address[3] memory tokens_,
        address[2] memory pools_,
        bytes[] memory routes_
    ) {
        executor = executor_;
        owner = owner_;
        caller = caller_;
        tokens = tokens_;
        pools = pools_;
        routes = routes_;
    }

    function _actor(uint256 seed) internal view returns (address a) {
        a = address(uint160(uint256(keccak256(abi.encode(seed)))));
        if (a == owner || a == caller || a == address(0)) a = address(0xDEAD);
    }

    function _route(uint256 pick, bytes calldata junk) internal view returns (bytes memory) {
        if (pick % 4 == 3) return junk;
        return routes[pick % routes.length];
    }

    function execute(uint256 seed, uint256 pick, bytes calldata junk) external {
        ++calls;
        vm.prank(_actor(seed));
        try executor.execute(_route(pick, junk)) {
            ++privilegedSuccesses;
        } catch {}
    }

    function withdrawToken(uint256 seed, uint256 token, address to, uint256 amount) external {
        ++calls;
        vm.prank(_actor(seed));
        try executor.withdrawToken(tokens[token % 3], to, amount) {
            ++privilegedSuccesses;
        } catch {}
    }

    function withdrawEth(uint256 seed, address to, uint256 amount) external {
        ++calls;
        vm.prank(_actor(seed));
        try executor.withdrawEth(payable(to), amount) {
            ++privilegedSuccesses;
        } catch {}
    }

    function setCaller(uint256 seed, address who, bool allowed) external {
        ++calls;
        vm.prank(_actor(seed));
        try executor.setCaller(who, allowed) {
            ++privilegedSuccesses;
        } catch {}
    }

    function takeOwnership(uint256 seed) external {
        ++calls;
        address actor = _actor(seed);
        vm.prank(actor);
        try executor.transferOwnership(actor) {
            ++privilegedSuccesses;
        } catch {}
        vm.prank(actor);
        try executor.acceptOwnership() {
            ++privilegedSuccesses;
        } catch {}
    }

    function v3Callback(uint256 seed, int256 amount0, int256 amount1, uint256 pick, bool asPool, bytes calldata junk)
        external
    {
        ++calls;
        vm.prank(asPool ? pools[0] : _actor(seed));
        try executor.uniswapV3SwapCallback(amount0, amount1, abi.encodePacked(uint8(pick), _route(pick, junk))) {
            ++privilegedSuccesses;
        } catch {}
    }

    function v2Callback(uint256 seed, uint256 amount0, uint256 amount1, uint256 pick, bool asPair, bytes calldata junk)
        external
    {
        ++calls;
        vm.prank(asPair ? pools[1] : _actor(seed));
        try executor.uniswapV2Call(address(executor), amount0, amount1, _route(pick, junk)) {
            ++privilegedSuccesses;
        } catch {}
    }

    /// A flash swap on the canonical pair naming the executor as recipient: the pair calls uniswapV2Call.
    function flashSwapIntoExecutor(uint256 seed, uint256 amount, uint256 pick, bytes calldata junk) external {
        ++calls;
        vm.prank(_actor(seed));
        try IV2Pair(pools[1]).swap(amount % 1e18, 0, address(executor), _route(pick, junk)) {
            ++privilegedSuccesses;
        } catch {}
    }

    /// Gifts only ever raise balances; kept so sequences mix them with the rest.
    function sendEth(uint256 amount) external {
        ++calls;
        amount = amount % 10 ether;
        vm.deal(address(this), amount);
        (bool ok,) = address(executor).call{value: amount}("");
        ok;
    }
}

/// @notice No sequence of calls by non-owners (who are not allowed callers) lowers the executor's balances,
///         changes its owner or grants a role.
contract ExecutorInvariantTest is ExecutorFixture {
    StrangerHandler internal handler;
    uint256 internal wethStart;
    uint256 internal usdcStart;
    uint256 internal daiStart;
    uint256 internal ethStart;

    function setUp() public override {
        super.setUp();
        _give(WETH, address(executor), 50e18);
        _give(USDC, address(executor), 100_000e6);
        _give(DAI, address(executor), 100_000e18);
        vm.deal(address(executor), 5 ether);
        wethStart = IERC20(WETH).balanceOf(address(executor));
        usdcStart = IERC20(USDC).balanceOf(address(executor));
        daiStart = IERC20(DAI).balanceOf(address(executor));
        ethStart = address(executor).balance;

        HopSpec[] memory v3v2 = hops2(hop(V3, v3WethUsdc500, USDC, 500), hop(V2, v2WethUsdc, WETH, V2_FEE));
        HopSpec[] memory v2v3 = hops2(hop(V2, v2WethUsdc, USDC, V2_FEE), hop(V3, v3WethUsdc500, WETH, 500));
        bytes[] memory routes = new bytes[](3);
        routes[0] = encodeRoute(V3_FLASH, PAY_NONE, 1e18, 0, 0, WETH, v3v2);
        routes[1] = encodeRoute(V2_FLASH, PAY_WEI, 1e18, 0, 1 ether, WETH, v2v3);
        routes[2] = encodeRoute(OWN_BALANCE, PAY_NONE, 10e18, 0, 0, WETH, v3v2);
        handler = new StrangerHandler(executor, owner, caller, [WETH, USDC, DAI], [v3WethUsdc500, v2WethUsdc], routes);
        targetContract(address(handler));
    }

    function invariant_strangersCannotLowerBalances() public view {
        assertGe(IERC20(WETH).balanceOf(address(executor)), wethStart, "WETH");
        assertGe(IERC20(USDC).balanceOf(address(executor)), usdcStart, "USDC");
        assertGe(IERC20(DAI).balanceOf(address(executor)), daiStart, "DAI");
        assertGe(address(executor).balance, ethStart, "ETH");
    }

    function invariant_strangersCannotTakeRoles() public view {
        assertEq(handler.privilegedSuccesses(), 0, "a privileged call succeeded");
        assertEq(executor.owner(), owner, "owner");
        assertEq(executor.pendingOwner(), address(0), "pending owner");
    }
}
