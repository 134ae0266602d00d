// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The few Foundry cheatcodes these tests use. forge-std is not installable offline, so this is a
///         hand-written subset; signatures match Foundry 1.x's Vm interface.
interface Vm {
    function createSelectFork(string calldata urlOrAlias) external returns (uint256 forkId);
    function envString(string calldata name) external view returns (string memory value);
    function envOr(string calldata name, string calldata defaultValue) external view returns (string memory value);
    function deal(address account, uint256 newBalance) external;
    function etch(address target, bytes calldata newRuntimeBytecode) external;
    function getCode(string calldata artifactPath) external view returns (bytes memory creationBytecode);
    function readFile(string calldata path) external view returns (string memory data);
    function parseJsonString(string calldata json, string calldata key) external pure returns (string memory);
    function parseBytes(string calldata stringifiedValue) external pure returns (bytes memory parsedValue);
    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;
    function expectRevert() external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 revertData) external;
    function assume(bool condition) external pure;
    function label(address account, string calldata newLabel) external;
    function coinbase(address newCoinbase) external;
    function snapshotState() external returns (uint256 snapshotId);
    function revertToState(uint256 snapshotId) external returns (bool success);
    function load(address target, bytes32 slot) external view returns (bytes32 data);
    function store(address target, bytes32 slot, bytes32 value) external;
    function assertEq(uint256 left, uint256 right, string calldata err) external pure;
    function assertEq(address left, address right, string calldata err) external pure;
    function assertEq(bytes32 left, bytes32 right, string calldata err) external pure;
    function assertEq(bool left, bool right, string calldata err) external pure;
    function assertGt(uint256 left, uint256 right, string calldata err) external pure;
    function assertGe(uint256 left, uint256 right, string calldata err) external pure;
    function assertLe(uint256 left, uint256 right, string calldata err) external pure;
    function assertTrue(bool condition, string calldata err) external pure;
}

/// @notice Minimal test base: the cheatcode handle, assertion shorthands and invariant target lists.
abstract contract Test {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    address[] private _targetContracts;
    address[] private _excludedSenders;

    function assertEq(uint256 a, uint256 b, string memory why) internal pure {
        vm.assertEq(a, b, why);
    }

    function assertEq(address a, address b, string memory why) internal pure {
        vm.assertEq(a, b, why);
    }

    function assertEq(bool a, bool b, string memory why) internal pure {
        vm.assertEq(a, b, why);
    }

    function assertGt(uint256 a, uint256 b, string memory why) internal pure {
        vm.assertGt(a, b, why);
    }

    function assertGe(uint256 a, uint256 b, string memory why) internal pure {
        vm.assertGe(a, b, why);
    }

    function assertTrue(bool c, string memory why) internal pure {
        vm.assertTrue(c, why);
    }

    /// @dev Maps any fuzzed value into [lo, hi] without discarding runs (forge-std's `bound`, simplified).
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: lo > hi");
        if (x >= lo && x <= hi) return x;
        uint256 span = hi - lo;
        if (span == type(uint256).max) return x;
        return lo + (x % (span + 1));
    }

    // Read by forge's invariant runner (same names as forge-std's StdInvariant).
    function targetContract(address target) internal {
        _targetContracts.push(target);
    }

    function excludeSender(address sender) internal {
        _excludedSenders.push(sender);
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetContracts;
    }

    function excludeSenders() public view returns (address[] memory) {
        return _excludedSenders;
    }
}

/// @notice forge's console (shown with -vv): only the overload these tests use.
library console {
    address private constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    function log(string memory label, uint256 value) internal view {
        (bool ok,) = CONSOLE.staticcall(abi.encodeWithSignature("log(string,uint256)", label, value));
        ok;
    }
}
