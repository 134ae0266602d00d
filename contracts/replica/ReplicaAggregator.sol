// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice A Chainlink-style price feed placed at the address Aave's mainnet oracle reads for an asset.
///         It answers what AaveOracle and bots call (latestAnswer, latestRoundData, decimals) and emits
///         Chainlink's AnswerUpdated / NewRound events, so a devnet price move looks like a feed update.
contract ReplicaAggregator {
    uint8 public immutable decimals;
    string public description;
    address public updater;
    uint80 public latestRound;
    mapping(uint80 => int256) private _answers;
    mapping(uint80 => uint256) private _updatedAt;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

    error NotUpdater();
    error NoSuchRound();

    constructor(uint8 decimals_, string memory description_, int256 initialAnswer, address updater_) {
        decimals = decimals_;
        description = description_;
        updater = updater_;
        _record(initialAnswer);
    }

    /// @notice Publish a new answer (the devnet's price driver; on mainnet the DON does this).
    function updateAnswer(int256 answer) external {
        if (msg.sender != updater) revert NotUpdater();
        _record(answer);
    }

    function version() external pure returns (uint256) {
        return 4;
    }

    function latestAnswer() external view returns (int256) {
        return _answers[latestRound];
    }

    function latestTimestamp() external view returns (uint256) {
        return _updatedAt[latestRound];
    }

    function getAnswer(uint256 roundId) external view returns (int256) {
        return _answers[uint80(roundId)];
    }

    function getTimestamp(uint256 roundId) external view returns (uint256) {
        return _updatedAt[uint80(roundId)];
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return getRoundData(latestRound);
    }

    function getRoundData(uint80 roundId) public view returns (uint80, int256, uint256, uint256, uint80) {
        uint256 at = _updatedAt[roundId];
        if (at == 0) revert NoSuchRound();
        return (roundId, _answers[roundId], at, at, roundId);
    }

    function _record(int256 answer) private {
        uint80 round = latestRound + 1;
        latestRound = round;
        _answers[round] = answer;
        _updatedAt[round] = block.timestamp;
        emit NewRound(round, msg.sender, block.timestamp);
        emit AnswerUpdated(answer, round, block.timestamp);
    }
}
