"""The monitoring checks (promtool, amtool) and the Kubernetes manifest validation, when the tools are installed."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    shutil.which("promtool") is None or shutil.which("amtool") is None, reason="promtool/amtool missing"
)
def test_monitoring_check_passes():
    result = subprocess.run(
        ["bash", str(ROOT / "monitoring" / "check.sh")], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "monitoring: all checks passed" in result.stdout


@pytest.mark.skipif(importlib.util.find_spec("kubernetes_validate") is None, reason="kubernetes-validate missing")
def test_kubernetes_manifests_validate():
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "k8s" / "validate.sh")], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
