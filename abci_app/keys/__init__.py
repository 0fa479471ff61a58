"""Account keys and keyrings, as the Cosmos SDK's ``crypto/keys/secp256k1``, ``crypto/hd`` and
``crypto/keyring`` know them (docs/keys.md).

* :mod:`abci_app.keys.secp256k1`: keys, low-S signatures over SHA-256, Cosmos addresses.
* :mod:`abci_app.keys.hd`: BIP39 mnemonics and BIP32/BIP44 derivation at ``m/44'/118'/0'/0/0``.
* :mod:`abci_app.keys.sealed`: passphrase encryption (argon2id + ChaCha20-Poly1305).
* :mod:`abci_app.keys.armor`: the ASCII-armored ``TENDERMINT PRIVATE KEY`` export format.
* :mod:`abci_app.keys.keyring`: the ``file`` and ``test`` keyring backends.
* :mod:`abci_app.keys.passphrase`: where a passphrase comes from (terminal, file, environment).

Nothing here is on a consensus path: it is the client side, used by the CLI to hold keys and sign.
"""
