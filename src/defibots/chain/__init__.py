"""Chain I/O: RPC clients, listeners, batched state loaders, ABIs and per-chain addresses."""
