"""The Cosmos SDK's node services that read CometBFT (``cosmos.base.tendermint.v1beta1.Service``,
``cosmos.consensus.v1.Query``): CometBFT's JSON-RPC answers parsed into the SDK's protobuf messages."""
