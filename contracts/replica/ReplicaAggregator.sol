// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice A Chainlink OCR2 data-feed aggregator, behind Chainlink's AggregatorProxy at the address Aave's mainnet
///         oracle reads for an asset (contracts-chainlink/). It speaks the interface of mainnet's AccessControlledOCR2Aggregator (setConfig, transmit with f + 1
///         oracle signatures, the AggregatorV2V3 reads and the same events and revert strings), so a pending
///         `transmit` in the devnet mempool looks, and is decoded, exactly like a mainnet price update.
///         Left out on purpose: LINK billing/payouts, the validator hook and read access control.
contract ReplicaAggregator {
    /// @dev Mainnet's OCR2 limit (signer indices fit the 32-bit `rawVs` / duplicate bitmask).
    uint256 private constant MAX_NUM_ORACLES = 31;
    /// @dev transmit's fixed calldata: selector, 3 reportContext words, 3 offsets, rawVs, 3 length words.
    uint256 private constant TRANSMIT_FIXED_CALLDATA = 4 + 32 * 3 + 32 * 3 + 32 + 32 * 3;
    /// @dev Config digest prefix of the EVM OCR2 aggregator (top two bytes of the digest).
    uint256 private constant CONFIG_DIGEST_PREFIX = 0x0001;

    struct Oracle {
        bool active;
        uint8 index;
    }

    /// @dev Everything transmit reads besides the digest, in one slot.
    struct HotVars {
        uint40 latestEpochAndRound;
        uint8 f;
        uint32 latestAggregatorRoundId;
        uint32 configCount;
        uint32 latestConfigBlockNumber;
    }

    struct Transmission {
        int192 answer;
        uint32 observationsTimestamp;
        uint32 transmissionTimestamp;
    }

    struct ConfigArgs {
        address[] signers;
        address[] transmitters;
        uint8 f;
        bytes onchainConfig;
        uint64 offchainConfigVersion;
        bytes offchainConfig;
    }

    /// @dev A decoded report (a memory struct keeps transmit clear of "stack too deep").
    struct Report {
        uint32 observationsTimestamp;
        bytes32 rawObservers;
        int192[] observations;
        int192 juelsPerFeeCoin;
    }

    uint8 public immutable decimals;
    int192 public immutable minAnswer;
    int192 public immutable maxAnswer;
    string public description;
    address public owner;

    HotVars internal s_hotVars;
    bytes32 internal s_latestConfigDigest;
    address[] internal s_signersList;
    address[] internal s_transmittersList;
    mapping(address => Oracle) internal s_signers;
    mapping(address => Oracle) internal s_transmitters;
    mapping(uint32 => Transmission) internal s_transmissions;

    event ConfigSet(
        uint32 previousConfigBlockNumber,
        bytes32 configDigest,
        uint64 configCount,
        address[] signers,
        address[] transmitters,
        uint8 f,
        bytes onchainConfig,
        uint64 offchainConfigVersion,
        bytes offchainConfig
    );
    event NewTransmission(
        uint32 indexed aggregatorRoundId,
        int192 answer,
        address transmitter,
        uint32 observationsTimestamp,
        int192[] observations,
        bytes observers,
        int192 juelsPerFeeCoin,
        bytes32 configDigest,
        uint40 epochAndRound
    );
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    constructor(uint8 decimals_, string memory description_, int192 minAnswer_, int192 maxAnswer_, address owner_) {
        decimals = decimals_;
        description = description_;
        minAnswer = minAnswer_;
        maxAnswer = maxAnswer_;
        owner = owner_;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Configuration
    // ---------------------------------------------------------------------------------------------------------

    /// @notice Replace the oracle set (owner only), as mainnet's feed owner does; the new config digest starts
    ///         a fresh epoch/round sequence.
    function setConfig(
        address[] calldata signers,
        address[] calldata transmitters,
        uint8 f,
        bytes calldata onchainConfig,
        uint64 offchainConfigVersion,
        bytes calldata offchainConfig
    ) external {
        require(msg.sender == owner, "Only callable by owner");
        require(signers.length <= MAX_NUM_ORACLES, "too many oracles");
        require(signers.length == transmitters.length, "oracle length mismatch");
        require(3 * uint256(f) < signers.length, "faulty-oracle f too high");
        require(f > 0, "f must be positive");
        _setConfig(ConfigArgs(signers, transmitters, f, onchainConfig, offchainConfigVersion, offchainConfig));
    }

    function _setConfig(ConfigArgs memory args) internal {
        // Forget the old oracle set.
        for (uint256 i = 0; i < s_signersList.length; i++) {
            delete s_signers[s_signersList[i]];
            delete s_transmitters[s_transmittersList[i]];
        }
        delete s_signersList;
        delete s_transmittersList;

        // A zero signer would accept any invalid signature (ecrecover returns 0), so it counts as taken.
        for (uint256 i = 0; i < args.signers.length; i++) {
            address signer = args.signers[i];
            require(signer != address(0) && !s_signers[signer].active, "repeated signer address");
            s_signers[signer] = Oracle(true, uint8(i));
            address transmitter = args.transmitters[i];
            require(transmitter != address(0) && !s_transmitters[transmitter].active, "repeated transmitter address");
            s_transmitters[transmitter] = Oracle(true, uint8(i));
        }
        s_signersList = args.signers;
        s_transmittersList = args.transmitters;

        HotVars memory hot = s_hotVars;
        uint32 previousConfigBlockNumber = hot.latestConfigBlockNumber;
        hot.configCount += 1;
        hot.latestConfigBlockNumber = uint32(block.number);
        hot.latestEpochAndRound = 0;
        hot.f = args.f;
        s_hotVars = hot;

        bytes32 digest = _configDigest(hot.configCount, args);
        s_latestConfigDigest = digest;

        emit ConfigSet(
            previousConfigBlockNumber,
            digest,
            hot.configCount,
            args.signers,
            args.transmitters,
            args.f,
            args.onchainConfig,
            args.offchainConfigVersion,
            args.offchainConfig
        );
    }

    /// @dev The digest the DON signs over: the config's hash, tagged with the EVM prefix in its top two bytes.
    function _configDigest(uint64 configCount, ConfigArgs memory args) internal view returns (bytes32) {
        uint256 h = uint256(
            keccak256(
                abi.encode(
                    block.chainid,
                    address(this),
                    configCount,
                    args.signers,
                    args.transmitters,
                    args.f,
                    args.onchainConfig,
                    args.offchainConfigVersion,
                    args.offchainConfig
                )
            )
        );
        uint256 prefixMask = type(uint256).max << (256 - 16);
        return bytes32((h & ~prefixMask) | (CONFIG_DIGEST_PREFIX << (256 - 16)));
    }

    function latestConfigDetails() external view returns (uint32 configCount, uint32 blockNumber, bytes32 configDigest) {
        HotVars memory hot = s_hotVars;
        return (hot.configCount, hot.latestConfigBlockNumber, s_latestConfigDigest);
    }

    /// @notice What the OCR2 node reads to resume: the digest and epoch of the last accepted report.
    function latestConfigDigestAndEpoch() external view returns (bool scanLogs, bytes32 configDigest, uint32 epoch) {
        return (false, s_latestConfigDigest, uint32(s_hotVars.latestEpochAndRound >> 8));
    }

    function transmitters() external view returns (address[] memory) {
        return s_transmittersList;
    }

    function typeAndVersion() external pure returns (string memory) {
        return "AccessControlledOCR2Aggregator 1.0.0";
    }

    // ---------------------------------------------------------------------------------------------------------
    // Transmission
    // ---------------------------------------------------------------------------------------------------------

    /// @notice Accept a report signed by f + 1 oracles and publish its median as the new round.
    /// @param reportContext [configDigest, epochAndRound (low 5 bytes), extraHash]
    /// @param rawVs byte i is signature i's recovery id (v - 27)
    function transmit(
        bytes32[3] calldata reportContext,
        bytes calldata report,
        bytes32[] calldata rs,
        bytes32[] calldata ss,
        bytes32 rawVs
    ) external {
        uint40 epochAndRound = uint40(uint256(reportContext[1]));
        HotVars memory hot = s_hotVars;
        require(hot.latestEpochAndRound < epochAndRound, "stale report");
        require(s_transmitters[msg.sender].active, "unauthorized transmitter");
        require(s_latestConfigDigest == reportContext[0], "configDigest mismatch");
        require(
            msg.data.length == TRANSMIT_FIXED_CALLDATA + report.length + rs.length * 32 + ss.length * 32,
            "calldata length mismatch"
        );
        require(rs.length == uint256(hot.f) + 1, "wrong number of signatures");
        require(rs.length == ss.length, "signatures out of registration");

        _verifySignatures(keccak256(abi.encode(keccak256(report), reportContext)), rs, ss, rawVs);
        _report(hot, reportContext[0], epochAndRound, report);
    }

    /// @dev Every signature must come from a distinct configured signer.
    function _verifySignatures(bytes32 h, bytes32[] calldata rs, bytes32[] calldata ss, bytes32 rawVs)
        internal
        view
    {
        uint256 seen;
        for (uint256 i = 0; i < rs.length; i++) {
            address signer = ecrecover(h, uint8(rawVs[i]) + 27, rs[i], ss[i]);
            Oracle memory o = s_signers[signer];
            require(o.active, "signature error");
            uint256 bit = 1 << o.index;
            require(seen & bit == 0, "duplicate signer");
            seen |= bit;
        }
    }

    function _report(HotVars memory hot, bytes32 configDigest, uint40 epochAndRound, bytes calldata report)
        internal
    {
        Report memory r;
        (r.observationsTimestamp, r.rawObservers, r.observations, r.juelsPerFeeCoin) =
            abi.decode(report, (uint32, bytes32, int192[], int192));
        uint256 n = r.observations.length;
        require(report.length == 32 * 5 + 32 * n, "report length mismatch");
        require(n <= MAX_NUM_ORACLES, "num observations out of bounds");
        require(uint256(hot.f) < n, "too few values to trust median");

        hot.latestEpochAndRound = epochAndRound;
        int192 median = r.observations[n / 2];
        require(minAnswer <= median && median <= maxAnswer, "median is out of min-max range");
        hot.latestAggregatorRoundId++;
        s_hotVars = hot;
        s_transmissions[hot.latestAggregatorRoundId] =
            Transmission(median, r.observationsTimestamp, uint32(block.timestamp));

        emit NewTransmission(
            hot.latestAggregatorRoundId,
            median,
            msg.sender,
            r.observationsTimestamp,
            r.observations,
            _observers(r.rawObservers, n),
            r.juelsPerFeeCoin,
            configDigest,
            epochAndRound
        );
        emit NewRound(hot.latestAggregatorRoundId, address(0), r.observationsTimestamp);
        emit AnswerUpdated(median, hot.latestAggregatorRoundId, block.timestamp);
    }

    /// @dev The first n bytes of rawObservers (observer indices, one byte each), n <= 31.
    function _observers(bytes32 rawObservers, uint256 n) internal pure returns (bytes memory observers) {
        observers = new bytes(n);
        bytes32 kept = rawObservers & ~bytes32(type(uint256).max >> (8 * n));
        assembly ("memory-safe") {
            mstore(add(observers, 32), kept)
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // AggregatorV2V3Interface
    // ---------------------------------------------------------------------------------------------------------

    function version() external pure returns (uint256) {
        return 6;
    }

    function latestAnswer() external view returns (int256) {
        return s_transmissions[s_hotVars.latestAggregatorRoundId].answer;
    }

    function latestTimestamp() external view returns (uint256) {
        return s_transmissions[s_hotVars.latestAggregatorRoundId].transmissionTimestamp;
    }

    function latestRound() external view returns (uint256) {
        return s_hotVars.latestAggregatorRoundId;
    }

    function getAnswer(uint256 roundId) external view returns (int256) {
        if (roundId > type(uint32).max) return 0;
        return s_transmissions[uint32(roundId)].answer;
    }

    function getTimestamp(uint256 roundId) external view returns (uint256) {
        if (roundId > type(uint32).max) return 0;
        return s_transmissions[uint32(roundId)].transmissionTimestamp;
    }

    function getRoundData(uint80 roundId)
        public
        view
        returns (uint80 roundId_, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        if (roundId > type(uint32).max) return (0, 0, 0, 0, 0);
        Transmission memory t = s_transmissions[uint32(roundId)];
        return (roundId, t.answer, t.observationsTimestamp, t.transmissionTimestamp, roundId);
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return getRoundData(s_hotVars.latestAggregatorRoundId);
    }
}
