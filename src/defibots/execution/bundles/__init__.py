"""Flashbots-style bundles: ordered signed transactions for one target block.

Modules: `signed_tx` (a signed transaction decoded once), `bundle` (the bundle model and the relays'
limits), `rpc_params` (eth_sendBundle / eth_callBundle / mev_sendBundle params, both ways), `signing`
(our own transactions), `bundle_file` (the user's JSON bundle file), `fields` (strict field parsing).
"""

from defibots.execution.bundles.bundle import MAX_BUNDLE_BYTES, MAX_BUNDLE_TXS, Bundle, bundle_hash
from defibots.execution.bundles.bundle_file import (
    BundleFile,
    RawEntry,
    assemble_bundle,
    parse_bundle_json,
    read_bundle_file,
)
from defibots.execution.bundles.fields import (
    BundleFormatError,
    parse_address,
    parse_hash,
    parse_hex_bytes,
    parse_quantity,
)
from defibots.execution.bundles.rpc_params import (
    bundle_from_send_params,
    call_bundle_params,
    mev_send_bundle_params,
    send_bundle_params,
)
from defibots.execution.bundles.signed_tx import SignedTx
from defibots.execution.bundles.signing import FeeDefaults, TxRequest, sign_request, sign_requests

__all__ = [
    "MAX_BUNDLE_BYTES",
    "MAX_BUNDLE_TXS",
    "Bundle",
    "BundleFile",
    "BundleFormatError",
    "FeeDefaults",
    "RawEntry",
    "SignedTx",
    "TxRequest",
    "assemble_bundle",
    "bundle_from_send_params",
    "bundle_hash",
    "call_bundle_params",
    "mev_send_bundle_params",
    "parse_address",
    "parse_bundle_json",
    "parse_hash",
    "parse_hex_bytes",
    "parse_quantity",
    "read_bundle_file",
    "send_bundle_params",
    "sign_request",
    "sign_requests",
]
