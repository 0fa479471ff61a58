"""A small key-value store: each account reads and writes only its own namespace (tasks' target)."""
