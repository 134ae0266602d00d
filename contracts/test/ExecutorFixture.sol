// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "./Vm.sol";
import {Executor} from "../Executor.sol";

interface IERC20 {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
}

interface IWETH is IERC20 {
    function deposit() external payable;
}

interface IV2Factory {
    function createPair(address tokenA, address tokenB) external returns (address pair);
}

interface IV2Pair {
    function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
    function mint(address to) external returns (uint256 liquidity);
}

interface IV3Factory {
    function createPool(address tokenA, address tokenB, uint24 fee) external returns (address pool);
}

interface IV3Pool {
    function initialize(uint160 sqrtPriceX96) external;
    function mint(address recipient, int24 tickLower, int24 tickUpper, uint128 amount, bytes calldata data)
        external
        returns (uint256 amount0, uint256 amount1);
    function swap(address recipient, bool zeroForOne, int256 amountSpecified, uint160 sqrtPriceLimitX96, bytes calldata data)
        external
        returns (int256 amount0, int256 amount1);
}

/// @notice A plain ERC-20 placed at mainnet token addresses when no replica RPC is given.
contract TestToken {
    string public name;
    string public symbol;
    uint8 public decimals;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
    }

    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
        return true;
    }
}

/// @notice Shared world for the Executor tests: WETH/USDC/DAI, Uniswap V2 pairs and V3 pools at their mainnet
///         addresses. With DEFIBOTS_RPC_URL set (`defibots devnet exec -- forge test`) it forks the devnet
///         replica and uses its seeded pools; without it, it builds a small copy from the npm artifacts so the
///         tests also run standalone. The test contract doubles as a trader (it implements the pool callbacks)
///         to move prices and to replay routes by hand.
abstract contract ExecutorFixture is Test {
    address internal constant WETH = 0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2;
    address internal constant USDC = 0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48;
    address internal constant DAI = 0x6B175474E89094C44Da98b954EedeAC495271d0F;
    address internal constant V2_FACTORY = 0x5C69bEe701ef814a2B6a3EDD4B1652CB9cc5aA6f;
    address internal constant V3_FACTORY = 0x1F98431c8aD98523631AE4a59f267346ea31F984;
    bytes32 internal constant V2_INIT = 0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f;
    bytes32 internal constant V3_INIT = 0xe34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54;
    uint160 internal constant MIN_SQRT_RATIO = 4295128739;
    uint160 internal constant MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342;

    uint8 internal constant V2 = 0;
    uint8 internal constant V3 = 1;
    uint8 internal constant OWN_BALANCE = 0;
    uint8 internal constant V2_FLASH = 1;
    uint8 internal constant V3_FLASH = 2;
    uint8 internal constant AAVE_FLASH = 3;
    uint8 internal constant PAY_NONE = 0;
    uint8 internal constant PAY_WEI = 1;
    uint8 internal constant PAY_BPS = 2;
    uint24 internal constant V2_FEE = 9970;

    address internal owner = address(0xA11CE);
    address internal caller = address(0xB0B);
    Executor internal executor;
    bool internal forked;

    // Mainnet addresses, recomputed here so a wrong constant cannot hide.
    address internal v2WethUsdc;
    address internal v2DaiUsdc;
    address internal v2WethDai;
    address internal v3WethUsdc500;
    address internal v3WethUsdc3000;
    address internal v3WethDai3000;

    struct HopSpec {
        uint8 kind;
        address pool;
        address tokenOut;
        uint24 fee;
    }

    function setUp() public virtual {
        string memory rpc = vm.envOr("DEFIBOTS_RPC_URL", string(""));
        v2WethUsdc = pairFor(WETH, USDC);
        v2DaiUsdc = pairFor(DAI, USDC);
        v2WethDai = pairFor(WETH, DAI);
        v3WethUsdc500 = poolFor(WETH, USDC, 500);
        v3WethUsdc3000 = poolFor(WETH, USDC, 3000);
        v3WethDai3000 = poolFor(WETH, DAI, 3000);
        assertEq(v2WethUsdc, 0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc, "V2 WETH/USDC address");
        assertEq(v3WethUsdc500, 0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640, "V3 WETH/USDC 0.05% address");
        if (bytes(rpc).length != 0) {
            vm.createSelectFork(rpc);
            forked = true;
        } else {
            _buildWorld();
        }
        vm.label(WETH, "WETH");
        vm.label(USDC, "USDC");
        vm.label(DAI, "DAI");
        vm.label(v2WethUsdc, "V2 WETH/USDC");
        vm.label(v2DaiUsdc, "V2 DAI/USDC");
        vm.label(v2WethDai, "V2 WETH/DAI");
        vm.label(v3WethUsdc500, "V3 WETH/USDC 500");
        vm.label(v3WethUsdc3000, "V3 WETH/USDC 3000");
        vm.label(v3WethDai3000, "V3 WETH/DAI 3000");

        address[] memory callers = new address[](1);
        callers[0] = caller;
        executor = new Executor(owner, callers);
        vm.label(address(executor), "Executor");
        // A working executor keeps its profits, so its token balance slots are never empty; 1 wei of each
        // keeps the gas figures honest (no 0 -> non-zero SSTORE on the first profit).
        _give(WETH, address(executor), 1);
        _give(USDC, address(executor), 1);
        _give(DAI, address(executor), 1);
    }

    // ------------------------------------------------------------ route bytes

    /// Packs a route exactly as the Executor's NatSpec describes (and route.py writes).
    function encodeRoute(
        uint8 funding,
        uint8 paymentMode,
        uint256 amountIn,
        uint256 minProfit,
        uint256 payment,
        address tokenIn,
        HopSpec[] memory hops
    ) internal pure returns (bytes memory route) {
        route = abi.encodePacked(
            uint8(funding | (paymentMode << 2)),
            uint8(hops.length),
            uint128(amountIn),
            uint128(minProfit),
            uint128(payment),
            tokenIn
        );
        for (uint256 i = 0; i < hops.length; ++i) {
            route = abi.encodePacked(route, hops[i].kind, hops[i].pool, hops[i].tokenOut, hops[i].fee);
        }
    }

    function hops2(HopSpec memory a, HopSpec memory b) internal pure returns (HopSpec[] memory h) {
        h = new HopSpec[](2);
        h[0] = a;
        h[1] = b;
    }

    function hops3(HopSpec memory a, HopSpec memory b, HopSpec memory c) internal pure returns (HopSpec[] memory h) {
        h = new HopSpec[](3);
        h[0] = a;
        h[1] = b;
        h[2] = c;
    }

    function hop(uint8 kind, address pool, address tokenOut, uint24 fee) internal pure returns (HopSpec memory) {
        return HopSpec(kind, pool, tokenOut, fee);
    }

    // --------------------------------------------------------------- trading

    /// Swaps from this contract's balance, paying V3 in our callback: moves prices and replays routes.
    function swapV2(address pair, address tokenIn, address tokenOut, uint256 amountIn, address to)
        internal
        returns (uint256 out)
    {
        (uint256 r0, uint256 r1,) = IV2Pair(pair).getReserves();
        bool zeroForOne = tokenIn < tokenOut;
        (uint256 rIn, uint256 rOut) = zeroForOne ? (r0, r1) : (r1, r0);
        out = amountIn * 997 * rOut / (rIn * 1000 + amountIn * 997);
        IERC20(tokenIn).transfer(pair, amountIn);
        IV2Pair(pair).swap(zeroForOne ? 0 : out, zeroForOne ? out : 0, to, "");
    }

    function swapV3(address pool, address tokenIn, address tokenOut, uint256 amountIn, address to)
        internal
        returns (uint256)
    {
        bool zeroForOne = tokenIn < tokenOut;
        (int256 a0, int256 a1) = IV3Pool(pool).swap(
            to, zeroForOne, int256(amountIn), zeroForOne ? MIN_SQRT_RATIO + 1 : MAX_SQRT_RATIO - 1, abi.encode(tokenIn)
        );
        return uint256(-(zeroForOne ? a1 : a0));
    }

    /// Replays hops from this contract's balance; returns the final output.
    function replay(address tokenIn, uint256 amountIn, HopSpec[] memory hops) internal returns (uint256 amount) {
        amount = amountIn;
        for (uint256 i = 0; i < hops.length; ++i) {
            HopSpec memory h = hops[i];
            amount = h.kind == V2
                ? swapV2(h.pool, tokenIn, h.tokenOut, amount, address(this))
                : swapV3(h.pool, tokenIn, h.tokenOut, amount, address(this));
            tokenIn = h.tokenOut;
        }
    }

    /// Net profit of a cycle when run by hand on the current state, leaving the state unchanged.
    function replayProfit(address tokenIn, uint256 amountIn, HopSpec[] memory hops) internal returns (int256) {
        _give(tokenIn, address(this), amountIn);
        uint256 snap = vm.snapshotState();
        uint256 out = replay(tokenIn, amountIn, hops);
        vm.revertToState(snap);
        return int256(out) - int256(amountIn);
    }

    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata data) external {
        address token = abi.decode(data, (address));
        IERC20(token).transfer(msg.sender, uint256(amount0Delta > 0 ? amount0Delta : amount1Delta));
    }

    function uniswapV3MintCallback(uint256 owed0, uint256 owed1, bytes calldata data) external {
        (address token0, address token1) = abi.decode(data, (address, address));
        if (owed0 > 0) IERC20(token0).transfer(msg.sender, owed0);
        if (owed1 > 0) IERC20(token1).transfer(msg.sender, owed1);
    }

    /// Gives `to` tokens: WETH by wrapping dealt ETH; others minted (standalone) or bought with WETH on the
    /// V3 0.3% pool, which no test route uses (replica).
    function _give(address token, address to, uint256 amount) internal {
        if (amount == 0) return;
        if (token == WETH) {
            vm.deal(address(this), address(this).balance + amount);
            IWETH(WETH).deposit{value: amount}();
            if (to != address(this)) IERC20(WETH).transfer(to, amount);
        } else if (!forked) {
            TestToken(token).mint(to, amount);
        } else {
            // exact output from the 0.3% pool, paid in WETH by our swap callback
            _give(WETH, address(this), 1_000_000e18);
            address pool = poolFor(WETH, token, 3000);
            bool zeroForOne = WETH < token;
            IV3Pool(pool).swap(
                to, zeroForOne, -int256(amount), zeroForOne ? MIN_SQRT_RATIO + 1 : MAX_SQRT_RATIO - 1, abi.encode(WETH)
            );
        }
    }

    // ------------------------------------------------------------- addresses

    function pairFor(address a, address b) internal pure returns (address) {
        (address t0, address t1) = a < b ? (a, b) : (b, a);
        return address(
            uint160(uint256(keccak256(abi.encodePacked(hex"ff", V2_FACTORY, keccak256(abi.encodePacked(t0, t1)), V2_INIT))))
        );
    }

    function poolFor(address a, address b, uint24 fee) internal pure returns (address) {
        (address t0, address t1) = a < b ? (a, b) : (b, a);
        return address(
            uint160(uint256(keccak256(abi.encodePacked(hex"ff", V3_FACTORY, keccak256(abi.encode(t0, t1, fee)), V3_INIT))))
        );
    }

    // --------------------------------------------------- standalone world

    /// Runs creation code *at* `target` so constructors see their final address (immutables, storage).
    function _place(address target, bytes memory creationCode) internal {
        vm.etch(target, creationCode);
        (bool ok, bytes memory runtime) = target.call("");
        require(ok, "constructor failed");
        vm.etch(target, runtime);
    }

    /// Waffle artifacts (v2-core) hold unprefixed hex that vm.getCode does not read.
    function _waffleCode(string memory path) private view returns (bytes memory) {
        string memory hexCode = vm.parseJsonString(vm.readFile(path), ".bytecode");
        return vm.parseBytes(string.concat("0x", hexCode));
    }

    function _buildWorld() private {
        _place(WETH, vm.getCode("node_modules/canonical-weth/build/contracts/WETH9.json"));
        _place(USDC, abi.encodePacked(type(TestToken).creationCode, abi.encode("USD Coin", "USDC", uint8(6))));
        _place(DAI, abi.encodePacked(type(TestToken).creationCode, abi.encode("Dai Stablecoin", "DAI", uint8(18))));
        _place(
            V2_FACTORY,
            abi.encodePacked(_waffleCode("node_modules/@uniswap/v2-core/build/UniswapV2Factory.json"), abi.encode(address(this)))
        );
        _place(
            V3_FACTORY,
            vm.getCode("node_modules/@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json")
        );
        // ~$3000/ETH, $6M a side on V2 WETH/USDC, thinner elsewhere.
        _seedV2(WETH, USDC, 2000e18, 6_000_000e6);
        _seedV2(DAI, USDC, 3_000_000e18, 3_000_000e6);
        _seedV2(WETH, DAI, 1000e18, 3_000_000e18);
        _seedV3(WETH, USDC, 500, 2000e18, 6_000_000e6);
        _seedV3(WETH, USDC, 3000, 1000e18, 3_000_000e6);
        _seedV3(WETH, DAI, 3000, 1000e18, 3_000_000e18);
    }

    function _seedV2(address a, address b, uint256 amountA, uint256 amountB) private {
        address pair = IV2Factory(V2_FACTORY).createPair(a, b);
        _give(a, pair, amountA);
        _give(b, pair, amountB);
        IV2Pair(pair).mint(address(this));
    }

    /// Full-range position holding about amountA and amountB at the price amountB/amountA.
    function _seedV3(address a, address b, uint24 fee, uint256 amountA, uint256 amountB) private {
        address pool = IV3Factory(V3_FACTORY).createPool(a, b, fee);
        (address t0, address t1, uint256 x, uint256 y) = a < b ? (a, b, amountA, amountB) : (b, a, amountB, amountA);
        IV3Pool(pool).initialize(uint160(sqrt((y << 96) / x) << 48));
        int24 spacing = fee == 500 ? int24(10) : int24(60);
        int24 top = (887272 / spacing) * spacing;
        _give(t0, address(this), x * 2);
        _give(t1, address(this), y * 2);
        IV3Pool(pool).mint(address(this), -top, top, uint128(sqrt(x * y)), abi.encode(t0, t1));
    }

    function sqrt(uint256 x) internal pure returns (uint256 z) {
        if (x == 0) return 0;
        z = x;
        uint256 y = (x >> 1) + 1;
        while (y < z) {
            z = y;
            y = (x / y + y) >> 1;
        }
    }

    receive() external payable {}
}
