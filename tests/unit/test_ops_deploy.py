"""deploy/: the Prometheus alert rules pass ``promtool check rules`` and their unit tests, and the
Grafana dashboard has the node, consensus, oracle and tasks rows with valid PromQL.

promtool comes from Debian's ``prometheus`` package (``make promtool``, a dependency of ``make test``);
without it these tests skip, saying so. tests/integration/test_ops_metrics.py checks that every metric
named here is exported by a real node.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "taskmaster.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
NAME = re.compile(r"\b((?:taskmaster|cometbft)_[a-zA-Z0-9_]+)")


def dashboard_exprs() -> list[str]:
    """Every PromQL expression of the dashboard's panels."""
    panels: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def alert_exprs() -> list[str]:
    """Every expression of the alert rules (each is one ``expr:`` line; promtool checks the file)."""
    return re.findall(r"^\s*expr: (.+)$", ALERTS.read_text(), re.M)


def metric_names() -> set[str]:
    """The metric names the dashboard and the alert rules use."""
    return {m for expr in dashboard_exprs() + alert_exprs() for m in NAME.findall(expr)}


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed: `make promtool` (apt-get install prometheus) provides it")
    return found


def test_the_alert_rules_pass_promtool_check() -> None:
    result = subprocess.run([_promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_fire_as_their_unit_tests_say() -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", ALERT_TESTS.name],
        capture_output=True,
        text=True,
        cwd=ALERT_TESTS.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_has_the_four_rows_and_each_expression_is_valid_promql(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Node", "Consensus (CometBFT)", "Oracle", "Tasks"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    # promtool parses PromQL only inside rule files: each panel expression becomes a recording rule
    exprs = [e.replace("$instance", ".*") for e in dashboard_exprs()]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:expr{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    result = subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_metric_names_are_found_in_both_files() -> None:
    names = metric_names()
    assert "taskmaster_oracle_price" in names and "cometbft_consensus_height" in names
    assert "taskmaster_tasks_low_bond" in names
