"""The set of retained versions, held as runs of consecutive heights.

A node that prunes nothing retains every height: a list of them grew by one int (about 40 bytes) a
block, and membership tests (every query at a height) scanned it. Retained versions are runs of
consecutive heights (everything, the recent ones, the multiples of ``keep_every``, the held ones), so
this keeps one ``[first, last]`` pair per run: a node that keeps every version or only the recent ones
holds one or two runs whatever its height; ``keep_every`` adds one per kept multiple, as the database
does.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator


class RetainedVersions:
    """Sorted, disjoint, non-adjacent runs ``[first, last]`` of retained versions."""

    def __init__(self, versions: Iterable[int] = ()) -> None:
        """The set of ``versions`` (ascending, distinct)."""
        self._firsts: list[int] = []
        self._lasts: list[int] = []
        self._count = 0
        for version in versions:
            self.append(version)

    def append(self, version: int) -> None:
        """Add ``version``, above every retained one; ValueError otherwise."""
        if self._lasts and version <= self._lasts[-1]:
            raise ValueError(f"version {version} is not above the last retained version {self._lasts[-1]}")
        if self._lasts and version == self._lasts[-1] + 1:
            self._lasts[-1] = version
        else:
            self._firsts.append(version)
            self._lasts.append(version)
        self._count += 1

    def remove(self, version: int) -> None:
        """Drop retained ``version``; KeyError when it is not retained."""
        i = self._run_of(version)
        if i is None:
            raise KeyError(version)
        first, last = self._firsts[i], self._lasts[i]
        if first == last:
            del self._firsts[i], self._lasts[i]
        elif version == first:
            self._firsts[i] = version + 1
        elif version == last:
            self._lasts[i] = version - 1
        else:
            self._lasts[i] = version - 1
            self._firsts.insert(i + 1, version + 1)
            self._lasts.insert(i + 1, last)
        self._count -= 1

    def _run_of(self, version: int) -> int | None:
        i = bisect_right(self._firsts, version) - 1
        return i if i >= 0 and version <= self._lasts[i] else None

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self._run_of(version) is not None

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        for first, last in zip(list(self._firsts), list(self._lasts), strict=True):
            yield from range(first, last + 1)

    def up_to(self, version: int) -> Iterator[int]:
        """Retained versions ``<= version``, ascending (a snapshot: removing while iterating is safe)."""
        for first, last in zip(list(self._firsts), list(self._lasts), strict=True):
            if first > version:
                return
            yield from range(first, min(last, version) + 1)

    @property
    def runs(self) -> int:
        """How many runs of consecutive versions there are (what the set's memory grows with)."""
        return len(self._firsts)

    @property
    def first(self) -> int:
        """The oldest retained version; IndexError when there is none."""
        return self._firsts[0]

    @property
    def last(self) -> int:
        """The newest retained version; IndexError when there is none."""
        return self._lasts[-1]
