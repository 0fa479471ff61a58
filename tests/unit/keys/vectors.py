"""Outside test vectors for the keys package, quoted with where they are from.

cosmjs (cosmos/cosmjs), packages/proto-signing/src/testutils.spec.ts (``faucet``, ``testVectors``;
its TEST_VECTORS.md says they were made with the Cosmos SDK's simd) and
packages/proto-signing/src/directsecp256k1hdwallet.spec.ts (``defaultMnemonic``, "can restore multiple
accounts", "creates the same address as Go implementation"). All are at ``m/44'/118'/0'/0/account``.
"""

from __future__ import annotations

import bech32


def address_bytes(address: str) -> bytes:
    """The 20 bytes of a bech32 address of any prefix (cosmos1..., wasm1...)."""
    _, data = bech32.bech32_decode(address)
    assert data is not None, address
    raw = bech32.convertbits(data, 5, 8, False)
    assert raw is not None, address
    return bytes(raw)


# directsecp256k1hdwallet.spec.ts: "m/44'/118'/0'/0/0", defaultMnemonic, defaultPubkey, defaultAddress
DEFAULT_MNEMONIC = "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling"
DEFAULT_PUBKEY_HEX = "02baa4ef93f2ce84592a49b1d729c074eab640112522a7a89f7d03ebab21ded7b6"
DEFAULT_ADDRESS = "cosmos1jhg0e7s6gn44tfc5k37kr04sznyhedtc9rzys5"

# directsecp256k1hdwallet.spec.ts, "creates the same address as Go implementation"
GO_MNEMONIC = "oyster design unusual machine spread century engine gravity focus cave carry slot"
GO_ADDRESS = "cosmos1cjsxept9rkggzxztslae9ndgpdyt2408lk850u"

# testutils.spec.ts ``faucet`` (24 words) and directsecp256k1hdwallet.spec.ts "can restore multiple
# accounts": accounts 0..4 (makeCosmoshubPath(i) = m/44'/118'/0'/0/i), prefix "wasm"
FAUCET_MNEMONIC = (
    "economy stock theory fatal elder harbor betray wasp final emotion task crumble siren bottom lizard "
    "educate guess current outdoor pair theory focus wife stone"
)
FAUCET_ADDRESS = "cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6"
FAUCET_ACCOUNTS = [
    ("A08EGB7ro1ORuFhjOnZcSgwYlpe0DSFjVNUIkNNQxwKQ", "wasm1pkptre7fdkl6gfrzlesjjvhxhlc3r4gm32kke3"),
    ("AiDosfIbBi54XJ1QjCeApumcy/FjdtF+YhywPf3DKTx7", "wasm10dyr9899g6t0pelew4nvf4j5c3jcgv0r5d3a5l"),
    ("AzQg33JZqH7vSsm09esZY5bZvmzYwE/SY78cA0iLxpD7", "wasm1xy4yqngt0nlkdcenxymg8tenrghmek4n3u2lwa"),
    ("A3gOAlB6aiRTCPvWMQg2+ZbGYNsLd8qlvV28m8p2UhY2", "wasm142u9fgcjdlycfcez3lw8x6x5h7rfjlnfaallkd"),
    ("Aum2063ub/ErUnIUB36sK55LktGUStgcbSiaAnL1wadu", "wasm1hsm76p4ahyhl5yh3ve9ur49r5kemhp2r93f89d"),
]

# testutils.spec.ts ``testVectors``: SIGN_MODE_DIRECT sign bytes (a SignDoc of a bank send, chain
# "simd-testing", account 1, sequences 0, 1, 2) and the faucet key's signature of each
SIGN_VECTORS = [
    (
        (
            "0a93010a90010a1c2f636f736d6f732e62616e6b2e763162657461312e4d736753656e6412700a2d636f736d6f733170"
            "6b707472653766646b6c366766727a6c65736a6a766878686c63337234676d6d6b38727336122d636f736d6f73317179"
            "70717870713971637273737a673270767871367273307a716733797963356c7a763778751a100a0575636f736d120731"
            "32333435363712650a4e0a460a1f2f636f736d6f732e63727970746f2e736563703235366b312e5075624b657912230a"
            "21034f04181eeba35391b858633a765c4a0c189697b40d216354d50890d350c7029012040a02080112130a0d0a057563"
            "6f736d12043230303010c09a0c1a0c73696d642d74657374696e672001"
        ),
        "c9dd20e07464d3a688ff4b710b1fbc027e495e797cfa0b4804da2ed117959227772de059808f765aa29b8f92edf30f4c"
        "2c5a438e30d3fe6897daa7141e3ce6f9",
    ),
    (
        (
            "0a93010a90010a1c2f636f736d6f732e62616e6b2e763162657461312e4d736753656e6412700a2d636f736d6f733170"
            "6b707472653766646b6c366766727a6c65736a6a766878686c63337234676d6d6b38727336122d636f736d6f73317179"
            "70717870713971637273737a673270767871367273307a716733797963356c7a763778751a100a0575636f736d120731"
            "32333435363712670a500a460a1f2f636f736d6f732e63727970746f2e736563703235366b312e5075624b657912230a"
            "21034f04181eeba35391b858633a765c4a0c189697b40d216354d50890d350c7029012040a020801180112130a0d0a05"
            "75636f736d12043230303010c09a0c1a0c73696d642d74657374696e672001"
        ),
        "525adc7e61565a509c60497b798c549fbf217bb5cd31b24cc9b419d098cc95330c99ecc4bc72448f85c365a4e3f91299"
        "a3d40412fb3751bab82f1940a83a0a4c",
    ),
    (
        (
            "0a93010a90010a1c2f636f736d6f732e62616e6b2e763162657461312e4d736753656e6412700a2d636f736d6f733170"
            "6b707472653766646b6c366766727a6c65736a6a766878686c63337234676d6d6b38727336122d636f736d6f73317179"
            "70717870713971637273737a673270767871367273307a716733797963356c7a763778751a100a0575636f736d120731"
            "32333435363712670a500a460a1f2f636f736d6f732e63727970746f2e736563703235366b312e5075624b657912230a"
            "21034f04181eeba35391b858633a765c4a0c189697b40d216354d50890d350c7029012040a020801180212130a0d0a05"
            "75636f736d12043230303010c09a0c1a0c73696d642d74657374696e672001"
        ),
        "f3f2ca73806f2abbf6e0fe85f9b8af66f0e9f7f79051fdb8abe5bb8633b17da132e82d577b9d5f7a6dae57a144efc9cc"
        "c6eef15167b44b3b22a57240109762af",
    ),
]
