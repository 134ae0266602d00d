"""Foundry's tools as processes: anvil nodes and anvil's well-known dev accounts (no devnet knowledge)."""
