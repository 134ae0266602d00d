// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Shared ERC-20 state and accounting for the tokens placed at mainnet token addresses on the devnet
///         replica. The minter stands in for each token's issuer so the devnet can fund accounts.
abstract contract ReplicaTokenBase {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    address public minter;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    error NotMinter();
    error InsufficientBalance();
    error InsufficientAllowance();

    constructor(string memory name_, string memory symbol_, uint8 decimals_, address minter_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        minter = minter_;
    }

    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter();
        totalSupply += amount;
        unchecked {
            balanceOf[to] += amount;
        }
        emit Transfer(address(0), to, amount);
    }

    function _approve(address spender, uint256 amount) internal {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
    }

    /// @dev Max allowance is never decremented, as in most mainnet tokens.
    function _spend(address from, uint256 amount) internal {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert InsufficientAllowance();
            unchecked {
                allowance[from][msg.sender] = allowed - amount;
            }
        }
    }

    function _move(address from, address to, uint256 amount) internal {
        uint256 balance = balanceOf[from];
        if (balance < amount) revert InsufficientBalance();
        unchecked {
            balanceOf[from] = balance - amount;
            balanceOf[to] += amount;
        }
        emit Transfer(from, to, amount);
    }
}

/// @title ReplicaToken: a standard ERC-20 (USDC, DAI, WBTC stand-ins) with mainnet metadata.
contract ReplicaToken is ReplicaTokenBase {
    constructor(string memory name_, string memory symbol_, uint8 decimals_, address minter_)
        ReplicaTokenBase(name_, symbol_, decimals_, minter_)
    {}

    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }
}

/// @title ReplicaTetherToken: USDT's quirks, so bots meet them on the devnet as on mainnet.
/// @notice transfer, transferFrom and approve return nothing; approve from a non-zero allowance to another
///         non-zero value reverts (set it to zero first).
contract ReplicaTetherToken is ReplicaTokenBase {
    error NonZeroAllowance();

    constructor(string memory name_, string memory symbol_, uint8 decimals_, address minter_)
        ReplicaTokenBase(name_, symbol_, decimals_, minter_)
    {}

    function approve(address spender, uint256 amount) external {
        if (amount != 0 && allowance[msg.sender][spender] != 0) revert NonZeroAllowance();
        _approve(spender, amount);
    }

    function transfer(address to, uint256 amount) external {
        _move(msg.sender, to, amount);
    }

    function transferFrom(address from, address to, uint256 amount) external {
        _spend(from, amount);
        _move(from, to, amount);
    }
}
