"""User-deployed WebAssembly: code upload and validation, the deterministic runtime and its host API.

``abi.py`` is the contract between a module and the chain (the host functions, their signatures and
gas); ``validation.py`` decides at upload whether a binary is in the deterministic subset;
``runtime.py`` compiles (once per code id), meters and runs it; ``host.py`` implements the host
functions over the other modules' keepers. docs/wasm.md describes all of it for users.
"""
