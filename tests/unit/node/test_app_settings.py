"""config/app.json is outside input: a malformed file is a clear error naming the setting."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.node.home import AppSettings, SettingsError


def _home(tmp: Path, text: str) -> Path:
    (tmp / "config").mkdir(exist_ok=True)
    (tmp / "config" / "app.json").write_text(text)
    return tmp


def test_the_rest_gateway_is_on_by_default_on_the_sdks_port() -> None:
    assert AppSettings().api_address == "127.0.0.1:1317"


def test_a_saved_file_loads_back_equal(tmp_path: Path) -> None:
    original = AppSettings(keep_recent=100, metrics_address="127.0.0.1:1")
    (tmp_path / "config").mkdir()
    original.save(tmp_path)
    assert AppSettings.load(tmp_path) == original


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"keep_recnt": 5}', "unknown setting(s) ['keep_recnt']"),
        ('{"keep_recent": "100"}', "keep_recent must be a whole number"),
        ('{"keep_recent": -1}', "keep_recent must be a whole number"),
        ('{"keep_recent": true}', "keep_recent must be a whole number"),
        ('{"keep_recent": 1.5}', "keep_recent must be a whole number"),
        ('{"grpc_address": 9090}', "grpc_address must be a string"),
        ('{"store_write_buffer_mib": 0}', "store_write_buffer_mib must be at least 1, got 0"),
        ('{"store_node_cache": 1}', "store_node_cache must be at least 2, got 1"),
    ],
)
def test_a_malformed_file_names_the_setting_to_change(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        AppSettings.load(_home(tmp_path, text))
    assert says in str(caught.value)
    assert "app.json" in str(caught.value)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([*AppSettings.__dataclass_fields__, "other"]), JSON) | JSON)
def test_any_json_loads_or_is_a_settings_error(data: object) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = _home(Path(tmp), json.dumps(data))
        try:
            loaded = AppSettings.load(home)
        except SettingsError:
            return
        assert isinstance(loaded, AppSettings)
        assert all(type(v) in (int, str) for v in vars(loaded).values())


def test_the_store_settings_are_the_stores_memory_bounds(tmp_path: Path) -> None:
    home = _home(
        tmp_path, '{"store_node_cache": 1000, "store_write_buffer_mib": 2, "store_block_cache_mib": 0}'
    )
    limits = AppSettings.load(home).store_limits()
    assert (limits.node_cache_nodes, limits.write_buffer_bytes, limits.block_cache_bytes) == (
        1000,
        2 << 20,
        0,
    )
