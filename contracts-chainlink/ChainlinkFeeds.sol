// SPDX-License-Identifier: MIT
pragma solidity ^0.7.0;

// Chainlink's own AggregatorProxy (npm @chainlink/contracts@0.3.1, MIT), the contract mainnet's price-feed
// addresses are: the replica places it at each Aave price source, in front of the replica's OCR2 aggregator
// (contracts/replica/ReplicaAggregator.sol), so reads go through the proxy and updates reach the aggregator
// as on mainnet.
import "@chainlink/contracts/src/v0.7/dev/AggregatorProxy.sol";
