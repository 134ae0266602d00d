"""Anvil process control now lives in `defibots.foundry.anvil`; this path stays importable for callers."""

from defibots.foundry.accounts import DEV_MNEMONIC
from defibots.foundry.anvil import AnvilConfig, AnvilNode, free_port, port_in_use, rpc_call

__all__ = ["DEV_MNEMONIC", "AnvilConfig", "AnvilNode", "free_port", "port_in_use", "rpc_call"]
