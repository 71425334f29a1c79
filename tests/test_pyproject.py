"""Installing AlertFlow warns about nothing of ours."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_license_is_an_spdx_expression_which_setuptools_takes_without_a_warning() -> None:
    """The table form (``{text = ...}``) made setuptools warn on every install: deprecated by
    PEP 639, which setuptools implements from 77 on."""
    for path in (ROOT / "pyproject.toml", ROOT / "plugins" / "pyproject.toml"):
        project = tomllib.loads(path.read_text())
        assert project["project"]["license"] == "Apache-2.0", path
        [setuptools] = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
        found = re.fullmatch(r"setuptools>=(\d+)", setuptools)
        assert found and int(found[1]) >= 77, f"{path}: {setuptools} may not know PEP 639"
