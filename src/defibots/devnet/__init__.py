"""The devnet: anvil process control, the mainnet replica, and local stand-ins for outside services."""
