"""Providers are found through the ``alertflow.providers`` entry points and nothing else."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from alertflow.providers import ProviderRegistry

from .context import provider_context
from .messages import message

SAMPLE = Path(__file__).parent.parent / "sample_provider"
FIRST_PARTY = {"smtp", "twilio", "msg91", "fcm", "webpush", "webhook"}


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def sample_installed(tmp_path: Path) -> Iterator[None]:
    """The sample provider pip-installed into this environment for the test, then removed."""
    # Built from a copy, so the build leaves no build/ or *.egg-info in the source tree.
    source = shutil.copytree(SAMPLE, tmp_path / "sample_provider")
    installed = pip("install", "--no-deps", "--no-build-isolation", "-q", str(source))
    if installed.returncode != 0:
        # The environment's own setuptools may be too old to build a wheel (a fresh venv's
        # 65.x lacks bdist_wheel without the wheel package): let pip fetch a build backend.
        installed = pip("install", "--no-deps", "-q", str(source))
    if installed.returncode != 0:
        reason = f"pip cannot install the sample provider here: {installed.stderr.strip()[-400:]}"
        print(reason)
        pytest.skip(reason)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        pip("uninstall", "-y", "-q", "alertflow-sample-provider")
        sys.modules.pop("alertflow_sample_provider", None)
        importlib.invalidate_caches()


async def test_an_installed_plugin_is_found_beside_the_first_party_providers(
    sample_installed: None, tmp_path: Path
) -> None:
    registry = ProviderRegistry.from_entry_points()
    assert {"sample", *FIRST_PARTY} <= set(registry.names())
    assert "sample" in registry.for_channel("sms")

    out = tmp_path / "sent.jsonl"
    type_name, settings = registry.validate("providers.sms", "sms", {"type": "sample", "path": str(out)})
    provider = registry.get(type_name)(settings, provider_context())
    await provider.send(message("sms", {"body": "Your code is 123456"}, phone="+15558675310"))

    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"delivery_id": "dlv_01HZX3K9", "to": "+15558675310", "body": "Your code is 123456"}
    ]


def test_first_party_providers_describe_their_channels_kinds_and_secrets() -> None:
    described = {d["type"]: d for d in ProviderRegistry.from_entry_points().describe()}
    assert {t: described[t]["channels"] for t in FIRST_PARTY} == {
        "smtp": ["email"],
        "twilio": ["sms"],
        "msg91": ["sms"],
        "fcm": ["push"],
        "webpush": ["push"],
        "webhook": ["webhook"],
    }
    assert described["fcm"]["device_kinds"] == ["fcm"]
    assert described["webpush"]["device_kinds"] == ["webpush"]
    assert {t: described[t]["secrets"] for t in FIRST_PARTY} == {
        "smtp": ["password"],
        "twilio": ["auth_token"],
        "msg91": ["auth_key"],
        "fcm": ["service_account_json"],
        "webpush": ["vapid_private_key"],
        "webhook": ["secret"],
    }
    assert all(described[t]["description"] for t in FIRST_PARTY)
