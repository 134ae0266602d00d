"""Bundle simulation: mine the bundle's block on an anvil node for real, read the outcome, revert.

Modules: `result` (what a simulation answers, in eth_callBundle shape), `mined_block` (the shared
mine-read-revert procedure), `fork` / `in_place` (the two backends), `txpool` (setting a node's pool
aside), `simulator` (`AnvilSimulator`, which picks a backend), `simulate_v1` (eth_simulateV1 on the
node itself, no mining).
"""

from defibots.execution.simulation.in_place import check_fifo_anvil
from defibots.execution.simulation.mined_block import BUILDER_COINBASE, balance_changes_from_prestate_diff
from defibots.execution.simulation.result import (
    WETH_DEPOSIT_TOPIC,
    WETH_WITHDRAWAL_TOPIC,
    BundleSimulationError,
    LogEntry,
    SimulationResult,
    TxSimulation,
    decode_revert_reason,
    token_transfers,
)
from defibots.execution.simulation.simulate_v1 import SimulateV1Simulator
from defibots.execution.simulation.simulator import AnvilSimulator, BundleSimulator
from defibots.execution.simulation.txpool import restore_pool, stash_pool

__all__ = [
    "BUILDER_COINBASE",
    "WETH_DEPOSIT_TOPIC",
    "WETH_WITHDRAWAL_TOPIC",
    "AnvilSimulator",
    "BundleSimulationError",
    "BundleSimulator",
    "LogEntry",
    "SimulateV1Simulator",
    "SimulationResult",
    "TxSimulation",
    "balance_changes_from_prestate_diff",
    "check_fifo_anvil",
    "decode_revert_reason",
    "restore_pool",
    "stash_pool",
    "token_transfers",
]
