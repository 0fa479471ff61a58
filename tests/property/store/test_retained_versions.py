"""RetainedVersions behaves as the sorted list of versions it replaced, whatever the appends and removals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abci_app.store.versions import RetainedVersions

# an operation: ("append", gap above the last) or ("remove", index into the retained versions)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 4)),
        st.tuples(st.just("remove"), st.integers(0, 200)),
    ),
    max_size=120,
)


@given(OPS, st.integers(-2, 260))
def test_retained_versions_match_a_sorted_list(ops: list[tuple[str, int]], probe: int) -> None:
    model: list[int] = []
    versions = RetainedVersions()
    for op, n in ops:
        if op == "append":
            v = (model[-1] if model else 0) + n
            model.append(v)
            versions.append(v)
        elif model:
            v = model.pop(n % len(model))
            versions.remove(v)
        assert list(versions) == model
        assert len(versions) == len(model)
    assert (probe in versions) == (probe in model)
    assert list(versions.up_to(probe)) == [v for v in model if v <= probe]
    if model:
        assert (versions.first, versions.last) == (model[0], model[-1])
    # one run per maximal stretch of consecutive versions
    assert versions.runs == sum(1 for i, v in enumerate(model) if i == 0 or model[i - 1] != v - 1)


def test_appending_a_version_not_above_the_last_is_refused() -> None:
    versions = RetainedVersions([1, 2, 3])
    with pytest.raises(ValueError, match="not above the last retained version 3"):
        versions.append(3)
