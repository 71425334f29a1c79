"""The code stays as STYLE.md asks: ruff-clean everywhere and mypy-clean in the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing() -> None:
    result = run("ruff", "check", "alertflow", "plugins", "tests", "build", "packaging", "clients")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_the_package() -> None:
    result = run("mypy", "alertflow")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing_in_the_python_client() -> None:
    result = run("mypy", "--strict", "clients/python/src")
    assert result.returncode == 0, result.stdout + result.stderr
