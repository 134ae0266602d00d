"""GMX V2 (v2.2) client codec: ExchangeRouter calldata (`orders`), EventEmitter logs (`events`), cancel and
freeze reasons (`reasons`) and typed SyntheticsReader / DataStore reads (`reader`).

Everything is encoded against the SDK's own ABIs (@gmx-io/sdk 1.4.0), shipped under chain/abi/gmx and
loaded through `abis`; the same calldata works on Arbitrum and on the devnet's GMX stand-in.
"""
