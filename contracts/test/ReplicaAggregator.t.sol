// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, console} from "./Vm.sol";
import {ReplicaAggregator} from "../replica/ReplicaAggregator.sol";

/// Signing, clock and event cheatcodes, which the shared Vm.sol subset leaves out (same cheatcode address).
interface SignVm {
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function addr(uint256 privateKey) external pure returns (address);
    function warp(uint256 newTimestamp) external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter)
        external;
}

/// @notice The replica's OCR2 aggregator: a DON-signed transmit publishes the median, and every check mainnet's
///         AccessControlledOCR2Aggregator makes rejects a bad transmit with the same revert string.
contract ReplicaAggregatorTest is Test {
    SignVm internal constant svm = SignVm(address(uint160(uint256(keccak256("hevm cheat code")))));

    int192 internal constant MIN = 1e6;
    int192 internal constant MAX = 1e15;
    /// Observer indices 0..30, one byte each (the report's rawObservers).
    bytes32 internal constant RAW_OBSERVERS = 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e00;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    /// One transmit call's arguments.
    struct Tx {
        bytes32[3] ctx;
        bytes report;
        bytes32[] rs;
        bytes32[] ss;
        bytes32 rawVs;
    }

    ReplicaAggregator internal agg;
    uint256[4] internal keys;
    address internal transmitter;
    bytes32 internal digest;

    function setUp() public {
        svm.warp(1_700_000_000);
        agg = new ReplicaAggregator(8, "ETH / USD", MIN, MAX, address(this));
        address[] memory signers = new address[](4);
        address[] memory transmitters = new address[](4);
        for (uint256 i = 0; i < 4; i++) {
            keys[i] = uint256(keccak256(abi.encodePacked("defibots replica ocr signer ", bytes1(uint8(48 + i)))));
            signers[i] = svm.addr(keys[i]);
            transmitters[i] = address(uint160(0x7a11 + i));
        }
        transmitter = transmitters[0];
        agg.setConfig(signers, transmitters, 1, "", 1, "");
        (,, digest) = agg.latestConfigDetails();
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    function _obs(int192 a, int192 b, int192 c, int192 d, uint256 n) internal pure returns (int192[] memory o) {
        o = new int192[](n);
        int192[4] memory all = [a, b, c, d];
        for (uint256 i = 0; i < n; i++) o[i] = all[i];
    }

    function _keys(uint256 a, uint256 b) internal pure returns (uint256[] memory k) {
        k = new uint256[](2);
        (k[0], k[1]) = (a, b);
    }

    /// A report over `obs` in round `epochAndRound`, signed by `signerKeys`.
    function _tx(int192[] memory obs, uint40 epochAndRound, uint256[] memory signerKeys)
        internal
        view
        returns (Tx memory t)
    {
        t.ctx = [digest, bytes32(uint256(epochAndRound)), bytes32(0)];
        t.report = abi.encode(uint32(block.timestamp - 5), RAW_OBSERVERS, obs, int192(7e15));
        _sign(t, signerKeys);
    }

    function _sign(Tx memory t, uint256[] memory signerKeys) internal pure {
        bytes32 h = keccak256(abi.encode(keccak256(t.report), t.ctx));
        t.rs = new bytes32[](signerKeys.length);
        t.ss = new bytes32[](signerKeys.length);
        t.rawVs = 0;
        for (uint256 i = 0; i < signerKeys.length; i++) {
            (uint8 v, bytes32 r, bytes32 s) = svm.sign(signerKeys[i], h);
            (t.rs[i], t.ss[i]) = (r, s);
            t.rawVs |= bytes32(uint256(v - 27) << (8 * (31 - i)));
        }
    }

    function _send(Tx memory t) internal {
        vm.prank(transmitter);
        agg.transmit(t.ctx, t.report, t.rs, t.ss, t.rawVs);
    }

    function _sendExpectingRevert(Tx memory t, string memory why) internal {
        vm.expectRevert(bytes(why));
        _send(t);
    }

    function _twoSigners() internal view returns (uint256[] memory) {
        return _keys(keys[0], keys[2]);
    }

    // ---- valid transmits ------------------------------------------------------------------------------------

    function test_transmitOddObservationsPublishesMedian() public {
        Tx memory t = _tx(_obs(2000e8, 2100e8, 2200e8, 0, 3), 1, _twoSigners());
        svm.expectEmit(true, true, false, true, address(agg));
        emit AnswerUpdated(2100e8, 1, block.timestamp);
        _send(t);

        assertEq(uint256(agg.latestAnswer()), 2100e8, "latestAnswer");
        assertEq(agg.latestRound(), 1, "latestRound");
        assertEq(agg.latestTimestamp(), block.timestamp, "latestTimestamp");
        (uint80 id, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredIn) = agg.latestRoundData();
        assertEq(id, 1, "roundId");
        assertEq(uint256(answer), 2100e8, "answer");
        assertEq(startedAt, block.timestamp - 5, "startedAt = observationsTimestamp");
        assertEq(updatedAt, block.timestamp, "updatedAt");
        assertEq(answeredIn, 1, "answeredInRound");
        assertEq(uint256(agg.getAnswer(1)), 2100e8, "getAnswer");
        assertEq(uint256(agg.getAnswer(uint256(type(uint32).max) + 1)), 0, "getAnswer past uint32");
        (id,,,,) = agg.getRoundData(uint80(type(uint32).max) + 1);
        assertEq(id, 0, "getRoundData past uint32");
        (, bytes32 d, uint32 epoch) = agg.latestConfigDigestAndEpoch();
        vm.assertEq(d, digest, "digest");
        assertEq(epoch, 0, "epoch of epochAndRound 1");
    }

    function test_transmitEvenObservationsPublishesUpperMedian() public {
        Tx memory t = _tx(_obs(1e8, 2e8, 3e8, 4e8, 4), 0x0105, _twoSigners());
        vm.prank(transmitter);
        uint256 before = gasleft();
        agg.transmit(t.ctx, t.report, t.rs, t.ss, t.rawVs);
        console.log("transmit gas (4 observations, 2 signatures)", before - gasleft());

        assertEq(uint256(agg.latestAnswer()), 3e8, "observations[len/2]");
        (uint80 id, int256 answer,,,) = agg.latestRoundData();
        assertEq(id, 1, "roundId");
        assertEq(uint256(answer), 3e8, "answer");
        (,, uint32 epoch) = agg.latestConfigDigestAndEpoch();
        assertEq(epoch, 1, "epoch");

        _send(_tx(_obs(5e8, 6e8, 7e8, 0, 3), 0x0106, _twoSigners()));
        assertEq(agg.latestRound(), 2, "second round");
        assertEq(uint256(agg.latestAnswer()), 6e8, "second answer");
        assertEq(uint256(agg.getAnswer(1)), 3e8, "first round kept");
    }

    function testFuzz_latestAnswerIsMiddleObservation(uint256 seed, uint256 n) public {
        n = bound(n, 2, 31);
        int192[] memory obs = new int192[](n);
        for (uint256 i = 0; i < n; i++) {
            uint256 x = uint256(keccak256(abi.encode(seed, i)));
            obs[i] = int192(int256(bound(x, uint256(int256(MIN)), uint256(int256(MAX)))));
        }
        _send(_tx(obs, 1, _twoSigners()));
        assertEq(uint256(agg.latestAnswer()), uint256(int256(obs[n / 2])), "median");
    }

    // ---- transmit reverts, in the order the contract checks them --------------------------------------------

    function test_revertStaleReport() public {
        Tx memory t = _tx(_obs(1e8, 2e8, 3e8, 0, 3), 7, _twoSigners());
        _send(t);
        _sendExpectingRevert(t, "stale report");
        _sendExpectingRevert(_tx(_obs(1e8, 2e8, 3e8, 0, 3), 6, _twoSigners()), "stale report");
    }

    function test_revertUnauthorizedTransmitter() public {
        Tx memory t = _tx(_obs(1e8, 2e8, 3e8, 0, 3), 1, _twoSigners());
        vm.expectRevert(bytes("unauthorized transmitter"));
        vm.prank(svm.addr(keys[0])); // a signer, not a transmitter
        agg.transmit(t.ctx, t.report, t.rs, t.ss, t.rawVs);
    }

    function test_revertConfigDigestMismatch() public {
        Tx memory t = _tx(_obs(1e8, 2e8, 3e8, 0, 3), 1, _twoSigners());
        t.ctx[0] = bytes32(uint256(digest) ^ 1);
        _sign(t, _twoSigners());
        _sendExpectingRevert(t, "configDigest mismatch");
    }

    function test_revertCalldataLengthMismatch() public {
        Tx memory t = _tx(_obs(1e8, 2e8, 3e8, 0, 3), 1, _twoSigners());
        bytes memory data = abi.encodeCall(agg.transmit, (t.ctx, t.report, t.rs, t.ss, t.rawVs));
        vm.prank(transmitter);
        (bool ok, bytes memory ret) = address(agg).call(abi.encodePacked(data, bytes32(0)));
        assertTrue(!ok, "padded calldata accepted");
        vm.assertEq(
            keccak256(ret), keccak256(abi.encodeWithSignature("Error(string)", "calldata length mismatch")), "reason"
        );
        vm.prank(transmitter);
        (ok,) = address(agg).call(data);
        assertTrue(ok, "exact calldata rejected");
    }

    function test_revertSignatureCounts() public {
        uint256[] memory one = new uint256[](1);
        one[0] = keys[0];
        _sendExpectingRevert(_tx(_obs(1e8, 2e8, 3e8, 0, 3), 1, one), "wrong number of signatures");
        uint256[] memory three = new uint256[](3);
        (three[0], three[1], three[2]) = (keys[0], keys[1], keys[2]);
        _sendExpectingRevert(_tx(_obs(1e8, 2e8, 3e8, 0, 3), 1, three), "wrong number of signatures");

        Tx memory t = _tx(_obs(1e8, 2e8, 3e8, 0, 3), 1, _twoSigners());
        bytes32[] memory ss = new bytes32[](1);
        ss[0] = t.ss[0];
        t.ss = ss;
        _sendExpectingRevert(t, "signatures out of registration");
    }

    function test_revertSignatureError() public {
        uint256 stranger = uint256(keccak256("not a signer"));
        _sendExpectingRevert(_tx(_obs(1e8, 2e8, 3e8, 0, 3), 1, _keys(keys[0], stranger)), "signature error");
    }

    function test_revertDuplicateSigner() public {
        _sendExpectingRevert(_tx(_obs(1e8, 2e8, 3e8, 0, 3), 1, _keys(keys[1], keys[1])), "duplicate signer");
    }

    function test_revertReportLengthMismatch() public {
        Tx memory t = _tx(_obs(1e8, 2e8, 3e8, 0, 3), 1, _twoSigners());
        t.report = abi.encodePacked(t.report, bytes32(0));
        _sign(t, _twoSigners());
        _sendExpectingRevert(t, "report length mismatch");
    }

    function test_revertObservationCounts() public {
        _sendExpectingRevert(_tx(_obs(1e8, 0, 0, 0, 1), 1, _twoSigners()), "too few values to trust median");
        int192[] memory many = new int192[](32);
        for (uint256 i = 0; i < 32; i++) many[i] = 1e8;
        _sendExpectingRevert(_tx(many, 1, _twoSigners()), "num observations out of bounds");
    }

    function test_revertMedianOutOfRange() public {
        _sendExpectingRevert(_tx(_obs(1, MIN - 1, MAX, 0, 3), 1, _twoSigners()), "median is out of min-max range");
        _sendExpectingRevert(_tx(_obs(MIN, MAX + 1, MAX, 0, 3), 1, _twoSigners()), "median is out of min-max range");
        _send(_tx(_obs(MIN, MAX, MAX, 0, 3), 1, _twoSigners())); // the bounds themselves are in range
        assertEq(uint256(agg.latestAnswer()), uint256(int256(MAX)), "max accepted");
    }

    // ---- setConfig -----------------------------------------------------------------------------------------

    function test_configDigestFormula() public view {
        address[] memory signers = new address[](4);
        for (uint256 i = 0; i < 4; i++) signers[i] = svm.addr(keys[i]);
        uint256 h = uint256(
            keccak256(
                abi.encode(
                    block.chainid, address(agg), uint64(1), signers, agg.transmitters(), uint8(1), "", uint64(1), ""
                )
            )
        );
        vm.assertEq(digest, bytes32((h & ~(uint256(0xffff) << 240)) | (uint256(1) << 240)), "configDigest");
    }

    function test_setConfigOnlyOwner() public {
        address[] memory none = new address[](0);
        vm.expectRevert(bytes("Only callable by owner"));
        vm.prank(transmitter);
        agg.setConfig(none, none, 1, "", 1, "");
    }

    function test_setConfigChecksAndReset() public {
        address[] memory s = agg.transmitters(); // any 4 distinct non-zero addresses
        address[] memory three = new address[](3);
        (three[0], three[1], three[2]) = (s[0], s[1], s[2]);
        vm.expectRevert(bytes("oracle length mismatch"));
        agg.setConfig(s, three, 1, "", 1, "");
        vm.expectRevert(bytes("faulty-oracle f too high"));
        agg.setConfig(three, three, 1, "", 1, "");
        vm.expectRevert(bytes("f must be positive"));
        agg.setConfig(s, s, 0, "", 1, "");
        address[] memory dup = new address[](4);
        (dup[0], dup[1], dup[2], dup[3]) = (s[0], s[1], s[2], s[0]);
        vm.expectRevert(bytes("repeated signer address"));
        agg.setConfig(dup, s, 1, "", 1, "");
        vm.expectRevert(bytes("repeated transmitter address"));
        agg.setConfig(s, dup, 1, "", 1, "");
        address[] memory big = new address[](32);
        vm.expectRevert(bytes("too many oracles"));
        agg.setConfig(big, big, 1, "", 1, "");

        // A new config: new digest, epoch/round sequence restarts, old reports no longer verify.
        Tx memory old = _tx(_obs(1e8, 2e8, 3e8, 0, 3), 9, _twoSigners());
        _send(old);
        address[] memory signers = new address[](4);
        for (uint256 i = 0; i < 4; i++) signers[i] = svm.addr(keys[i]);
        agg.setConfig(signers, s, 1, "", 2, hex"01");
        (uint32 count, uint32 blockNumber, bytes32 newDigest) = agg.latestConfigDetails();
        assertEq(count, 2, "configCount");
        assertEq(blockNumber, block.number, "config block");
        assertTrue(newDigest != digest && uint256(newDigest) >> 240 == 1, "digest changed, 0x0001 prefix");
        _sendExpectingRevert(old, "configDigest mismatch");
        digest = newDigest;
        _send(_tx(_obs(1e8, 2e8, 3e8, 0, 3), 1, _twoSigners()));
        assertEq(agg.latestRound(), 2, "round ids continue across configs");
    }
}
