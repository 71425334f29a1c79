"""What the README tells a newcomer holds: its variables are set before use, `make serve`
takes the port it says, its Layout names every module and package once and nothing else, and
every file it cites is in this repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# Build outputs the README names: made by `make dist`, not in a fresh clone.
GENERATED = ("build/dist/", "build/work/")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.S | re.M)


def section(title: str) -> str:
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert found, f"no section {title!r}"
    return found[1]


def test_every_shell_variable_is_exported_before_its_first_use() -> None:
    exported: set[str] = set()
    for block in code_blocks("sh"):
        for line in block.splitlines():
            for name in re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", line):
                assert name in exported, f"${name} is used before the README says to export it: {line.strip()}"
            exported |= set(re.findall(r"\bexport ([A-Z][A-Z0-9_]*)=", line))
    assert "ALERTFLOW_KEY" in exported


def test_make_serve_takes_the_port_the_readme_says() -> None:
    said = re.search(r"make serve PORT=(\d+)", README)
    assert said, "the README does not say how to pick the port"
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # Run as a user would from a shell: under `make test` the parent make's variables would
    # otherwise reach this make, which then prints "Entering directory" lines around the plan.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    dry = subprocess.run(
        ["make", "-n", "serve", f"PORT={said[1]}"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert dry.stdout.splitlines()[-1].endswith(f"alertflow serve --port {said[1]}")
    default = subprocess.run(["make", "-n", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert "--port" not in default.stdout.splitlines()[-1], "without PORT the config's port applies"


def layout_modules() -> list[Path]:
    """Every ``*.py`` and ``dir/`` the Layout names. A line whose first word ends in ``/`` names a
    directory in the nearest less indented directory line above it (the repository's top at the
    left margin); the modules on a line are in its own directory, else in that nearest one."""
    [block] = re.findall(r"^```\n(.*?)^```", section("Layout"), re.S | re.M)
    named: list[Path] = []
    dirs: list[tuple[int, Path]] = []  # the directory lines above this one: (indent, path)
    for line in block.splitlines():
        words = line.split()
        indent = len(line) - len(line.lstrip())
        while dirs and dirs[-1][0] >= indent:
            dirs.pop()
        here = dirs[-1][1] if dirs else ROOT
        if words and words[0].endswith("/"):
            here = here / words[0]
            if indent:
                named.append(here)
            else:  # a top-level directory, and what it holds
                assert here.is_dir(), words[0]
            dirs.append((indent, here))
            words = words[1:]
        named += [here / w.strip(",;()") for w in words if re.fullmatch(r"\w+\.py[,;)]?", w)]
    return named


def test_the_layout_names_real_modules_each_once() -> None:
    named = layout_modules()
    assert len(named) > 20, "the Layout parse found too little to prove anything"
    for path in named:
        assert path.exists(), f"the Layout names {path.relative_to(ROOT)}, which does not exist"
    twice = sorted({str(p.relative_to(ROOT)) for p in named if named.count(p) > 1})
    assert twice == [], f"listed more than once: {twice}"


def test_the_layout_names_every_module_and_package() -> None:
    package = ROOT / "alertflow"
    modules = {p for p in package.rglob("*.py") if p.name != "__init__.py"}
    packages = {p.parent for p in package.rglob("__init__.py")} - {package}
    unnamed = sorted(str(p.relative_to(ROOT)) for p in (modules | packages) - set(layout_modules()))
    assert unnamed == [], f"the Layout does not name {unnamed}"


def cited_paths() -> set[str]:
    """Markdown links, and words of inline code that are paths into the tree (their first part
    is a top-level entry of the repository, ``.`` or ``..``), so ``application/json`` is not one."""
    links = {p for p in re.findall(r"\]\(([^)#\s]+)\)", README) if not re.match(r"[a-z]+:", p)}
    top = {p.name for p in ROOT.iterdir()} | {".", ".."}
    words = (w.strip(",;:()") for span in re.findall(r"`([^`\n]+)`", README) for w in span.split())
    return links | {w for w in words if "/" in w and w.split("/")[0] in top}


def test_every_file_the_readme_cites_is_inside_the_repository() -> None:
    cited = cited_paths()
    assert "plugins/README.md" in cited and "tests/test_server.py" in cited, "the scan misses citations"
    for path in sorted(cited):
        if path.startswith(GENERATED) or "*" in path:
            continue
        resolved = (ROOT / path).resolve()
        assert resolved.is_relative_to(ROOT), f"{path} is outside the repository"
        assert resolved.exists() or (ROOT / path).is_symlink(), f"{path} is cited but not in the repository"
