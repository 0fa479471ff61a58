"""Node-local price feed configuration: defaults, key resolution, masking, 0600 file."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from abci_app.pricefeed.config import (
    DEMO_BASE_URL,
    PRO_BASE_URL,
    FeedConfig,
    FeedConfigError,
    config_path,
)

SECRET = "CG-s3cr3t-key-do-not-log"


def test_defaults_per_plan() -> None:
    demo = FeedConfig(api_key=SECRET)
    assert demo.base_url == DEMO_BASE_URL and demo.plan == "demo"
    assert (demo.poll_interval_s, demo.timeout_s, demo.max_price_age_s, demo.enabled) == (
        10.0,
        5.0,
        120,
        True,
    )
    assert FeedConfig(plan="pro", api_key=SECRET).base_url == PRO_BASE_URL
    assert FeedConfig(base_url="http://127.0.0.1:9/api/v3/").base_url == "http://127.0.0.1:9/api/v3"


def test_header_per_plan() -> None:
    assert FeedConfig(api_key=SECRET).header() == {"x-cg-demo-api-key": SECRET}
    assert FeedConfig(plan="pro", api_key=SECRET).header() == {"x-cg-pro-api-key": SECRET}


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TM_TEST_CG_KEY", SECRET)
    assert FeedConfig(api_key_env="TM_TEST_CG_KEY").header() == {"x-cg-demo-api-key": SECRET}
    # an explicit key wins over the environment variable
    assert FeedConfig(api_key="other", api_key_env="TM_TEST_CG_KEY").resolve_key() == "other"


def test_missing_key_names_both_options(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FeedConfigError, match=r'"api_key".*"api_key_env"'):
        FeedConfig().header()
    monkeypatch.delenv("TM_TEST_CG_UNSET", raising=False)
    with pytest.raises(FeedConfigError, match=r"TM_TEST_CG_UNSET.*api_key"):
        FeedConfig(api_key_env="TM_TEST_CG_UNSET").header()


def test_repr_masks_the_key() -> None:
    cfg = FeedConfig(api_key=SECRET)
    assert SECRET not in repr(cfg) and SECRET not in str(cfg) and SECRET not in f"{cfg}"
    assert "api_key=<redacted>" in repr(cfg)
    assert "api_key=<unset>" in repr(FeedConfig())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"plan": "free"},
        {"base_url": "ftp://x"},
        {"poll_interval_s": 0},
        {"timeout_s": -1},
        {"max_price_age_s": 1.5},
        {"max_price_age_s": True},
        {"enabled": "yes"},
        {"api_key": ""},
        {"api_key_env": " "},
    ],
)
def test_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(FeedConfigError):
        FeedConfig(**kwargs)  # type: ignore[arg-type]


def test_save_is_0600_and_load_round_trips(tmp_path: Path) -> None:
    cfg = FeedConfig(plan="pro", api_key=SECRET, poll_interval_s=2, timeout_s=1.5, max_price_age_s=60)
    path = cfg.save(tmp_path)
    assert path == config_path(tmp_path) == tmp_path / "config" / "pricefeed.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = FeedConfig.load(tmp_path)
    assert loaded == cfg and loaded.api_key == SECRET
    assert json.loads(path.read_text())["plan"] == "pro"
    # saving over a world-readable file makes it 0600 again
    path.chmod(0o644)
    cfg.save(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["pricefeed.json"]  # no temp file left


def test_load_warns_on_loose_permissions(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = FeedConfig(api_key=SECRET).save(tmp_path)
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="abci_app.pricefeed"):
        FeedConfig.load(tmp_path)
    assert "0600" in caplog.text and SECRET not in caplog.text


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"pricefeed\.json"):
        FeedConfig.load(tmp_path)
    path = config_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('{"api_kye": "x"}')
    with pytest.raises(FeedConfigError, match=r"unknown field.*api_kye"):
        FeedConfig.load(tmp_path)
    path.write_text("{not json")
    with pytest.raises(FeedConfigError, match="not valid JSON"):
        FeedConfig.load(tmp_path)
    path.write_text('{"plan": "enterprise"}')
    with pytest.raises(FeedConfigError, match="plan"):
        FeedConfig.load(tmp_path)
