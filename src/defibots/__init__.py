"""defibots: exact DeFi protocol models, an executor contract, bundles and a mainnet-replica devnet."""

__version__ = "0.1.0"
