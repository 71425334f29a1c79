"""``alertflow bench``'s closed-loop generators (issue 19): wrk where it is installed, else the
Python clients; either drives AlertFlow and the reference alike, and the bench says which.
Short runs, as a user would start them; no timing assertions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.process import cli

SHORT = ("-n", "200", "-c", "4", "--seconds", "0.5", "--rate", "20", "--sustain-rate", "20", "--json")
GENERATORS = [
    "python",
    pytest.param("wrk", marks=pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")),
]


@pytest.mark.parametrize("generator", GENERATORS)
def test_a_short_bench_drives_alertflow_and_the_reference_with_the_generator_it_names(
    tmp_path: Path, generator: str
) -> None:
    result = cli("bench", *SHORT, "--reference", "--generator", generator, cwd=tmp_path)
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["generator"] == generator
    assert figures["publish_per_s"] > 0 and figures["reference_per_s"] > 0
    assert figures["reference_ratio"] == pytest.approx(figures["publish_per_s"] / figures["reference_per_s"])
    assert result.stdout.count(f"generator {generator}") == 2  # AlertFlow's run and the reference's
    assert "errors                             0" in result.stdout


def test_without_wrk_the_bench_falls_back_to_python_and_refuses_to_insist_on_wrk(tmp_path: Path) -> None:
    no_wrk = tmp_path / "bin"  # a PATH that has no wrk; the bench runs its Python by full path
    no_wrk.mkdir()
    env = {"PATH": str(no_wrk)}
    result = cli("bench", *SHORT, env=env, cwd=tmp_path)
    assert json.loads(result.stdout.splitlines()[-1])["generator"] == "python"
    refused = cli("bench", *SHORT, "--generator", "wrk", env=env, cwd=tmp_path, check=False)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "wrk is not installed" in refused.stderr
