"""The store's memory bounds: every cache the store keeps, with its size as a node-local setting.

A node that runs for months must not grow with the blocks it has seen. What the store holds in memory
besides the latest tree (which is the state itself) is listed here, each with its bound:

* ``node_cache_nodes``: decoded tree nodes loaded from disk (nodedb.py), for reads of other versions
  than the latest and the first reads of the latest one;
* ``write_buffer_bytes``: RocksDB's memtable, the newest writes kept in memory until they are flushed
  to a table file. RocksDB keeps at most :data:`WRITE_BUFFERS` of them, so the bound is twice this.
  RocksDB's default (64 MiB, two of them) took a node about 20,000 idle blocks to fill: the node's
  resident size grew with every block for days before it levelled off;
* ``block_cache_bytes``: RocksDB's cache of table blocks, index and filter blocks included (without
  that, every table file's index stays in memory outside any cache, growing with the database);
* commit infos and open versions: :data:`MAX_CACHED_INFOS` and :data:`MAX_CACHED_VIEWS` (multistore.py).

These are node-local (``config/app.json``: ``store_node_cache``, ``store_write_buffer_mib``,
``store_block_cache_mib``); none of them changes an answer or a hash.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20
WRITE_BUFFERS = 2
"""RocksDB memtables at most (the one being written and one being flushed)."""
MIN_WRITE_BUFFER_BYTES = 64 * 1024
"""RocksDB raises a smaller write buffer to this; a configured bound below it would not hold."""
MAX_CACHED_VIEWS = 16
"""Committed versions whose trees are kept open for reads and queries (each holds its version's roots)."""
MAX_CACHED_INFOS = 256
"""Decoded per-version commit infos (roots and app hash, about 1 KB each) kept in memory."""


@dataclass(frozen=True)
class StoreLimits:
    """The memory bounds of one store database (see the module docstring)."""

    node_cache_nodes: int = 500_000
    write_buffer_bytes: int = 4 * MIB
    block_cache_bytes: int = 16 * MIB

    def __post_init__(self) -> None:
        if self.node_cache_nodes < 2:
            raise ValueError(f"the node cache must hold at least 2 nodes, not {self.node_cache_nodes}")
        if self.write_buffer_bytes < MIN_WRITE_BUFFER_BYTES:
            raise ValueError(
                f"the write buffer must be at least {MIN_WRITE_BUFFER_BYTES} bytes, "
                f"not {self.write_buffer_bytes}"
            )
        if self.block_cache_bytes < 0:
            raise ValueError(f"the block cache cannot be {self.block_cache_bytes} bytes")
