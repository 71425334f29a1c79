"""The guides in docs/ say what the code does: every route and config key is in one, every
delivery status is in the queue's diagram, the Grafana dashboard asks only for metrics the server
exposes, the pages are served under the page policy with links that resolve, and the guides'
runnable curl examples (```sh blocks using $ALERTFLOW_URL) pass against a real ``alertflow serve``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from pydantic import BaseModel

from alertflow.api import notifications, openapi
from alertflow.api.headers import PAGE_POLICY
from alertflow.api.resources import ROUTE_TABLES
from alertflow.config import Config
from tests.process import WAIT_SECONDS, Server

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDES = sorted(DOCS.rglob("*.md"))
README = ROOT / "README.md"
GRAFANA = ROOT / "packaging" / "grafana" / "alertflow.json"
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```", re.S | re.M)
# A Markdown link's target: [text](target)
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
PROMQL_NAME = re.compile(r"\balertflow_[a-z0-9_]+")


def guide_text() -> str:
    return "\n".join(p.read_text() for p in [*GUIDES, README])


def runnable_blocks(path: Path) -> list[str]:
    """A guide's ```sh blocks that call the API through $ALERTFLOW_URL, in order."""
    return [
        m["body"]
        for m in FENCE.finditer(path.read_text())
        if m["info"].strip() == "sh" and "$ALERTFLOW_URL" in m["body"]
    ]


def config_keys(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(section path, key) for every leaf of the config's models."""
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            yield from config_keys(kind, f"{prefix}{name}.")
        else:
            yield prefix.rstrip("."), name


def test_every_route_is_named_with_its_method_in_a_guide_or_the_readme() -> None:
    spec = openapi.document([r for table in ROUTE_TABLES for r in table.routes])
    text = guide_text()
    missing = [
        f"{method.upper()} {path}"
        for path, ops in spec["paths"].items()
        for method in ops
        if f"{method.upper()} {path}" not in text
    ]
    assert not missing, f"no guide nor the README names: {missing}"


@pytest.mark.parametrize(("section", "key"), sorted(set(config_keys(Config))))
def test_every_config_key_is_in_the_sample_config_and_a_guide(section: str, key: str) -> None:
    sample = (ROOT / "alertflow.toml").read_text()
    if section:
        body = sample.split(f"\n[{section}]\n", 1)[-1].split("\n[", 1)[0]
        assert re.search(rf"^# ?{key} =", body, re.M), f"alertflow.toml's [{section}] does not show {key}"
        # server.metrics_token, [server] metrics_token, `metrics_token`, metrics_token = ...
        named = re.search(rf"{section}\.{key}\b|\[{section}\]`? `?{key}\b|`{key}`|\b{key} =", guide_text())
    else:  # [providers.<channel>]: tables, not keys
        assert "[providers.email]" in sample
        named = "[providers." in guide_text()
    assert named, f"no guide nor the README mentions [{section}] {key}"


def test_the_queue_diagram_draws_every_delivery_status_and_no_other() -> None:
    diagrams = [m["body"] for m in FENCE.finditer((DOCS / "queue.md").read_text()) if m["info"].strip() == "mermaid"]
    assert diagrams, "docs/queue.md has no mermaid diagram"
    drawn = set(re.findall(r"^\s*(\w+)\s*-->", diagrams[0], re.M)) | set(re.findall(r"-->\s*(\w+)", diagrams[0]))
    assert drawn - {"start"} == set(notifications.STATUSES)


def test_links_between_guides_and_from_the_readme_resolve_to_files() -> None:
    broken = []
    for path in [*GUIDES, README]:
        for target in LINK.findall(path.read_text()):
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
                continue  # another site, or a path on the running server (/docs, /metrics)
            if not (path.parent / parts.path).exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_the_grafana_dashboard_is_valid_json_with_queries() -> None:
    dashboard = json.loads(GRAFANA.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs and all(PROMQL_NAME.search(e) for e in exprs)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag in ("script", "style") and "src" not in names:
            self.inline.append(tag)
        self.inline += [f"{tag}[{name}]" for name in names if name == "style" or name.startswith("on")]
        self.hrefs += [v for name, v in attrs if name == "href" and v]


@pytest.fixture
def server(tmp_path: Path, servers: list[Server]) -> Server:
    started = Server(tmp_path / "server").start()
    servers.append(started)
    return started


def test_every_guide_is_served_under_the_page_policy_and_its_links_resolve(server: Server) -> None:
    index = requests.get(f"{server.url}/docs/", timeout=WAIT_SECONDS)
    assert index.status_code == 200
    pages = {f"{server.url}/docs/{p.relative_to(DOCS).with_suffix('').as_posix()}" for p in GUIDES}
    listed = Links()
    listed.feed(index.text)
    assert {urljoin(index.url, h) for h in listed.hrefs} >= pages
    for url in sorted(pages):
        page = requests.get(url, timeout=WAIT_SECONDS)
        assert page.status_code == 200, url
        assert page.headers["Content-Type"].startswith("text/html")
        assert page.headers["Content-Security-Policy"] == PAGE_POLICY
        links = Links()
        links.feed(page.text)
        assert not links.inline, f"{url} has inline {links.inline}"
        for href in links.hrefs:
            target = urljoin(url, href)
            if target.startswith(server.url):
                assert requests.get(target, timeout=WAIT_SECONDS).status_code == 200, f"{url} -> {href}"


def test_an_unknown_guide_is_a_not_found_problem(server: Server) -> None:
    for path in ("/docs/nope", "/docs/providers/nope", "/docs/..%2FREADME"):
        resp = requests.get(server.url + path, timeout=WAIT_SECONDS)
        assert resp.status_code == 404, path
        assert resp.headers["Content-Type"].startswith("application/problem+json")


def test_the_guides_runnable_curl_examples_pass_in_order_against_a_real_server(server: Server, tmp_path: Path) -> None:
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            print(f"guide examples skipped: {tool} is not installed (make test installs it)")
            pytest.skip(f"{tool} is not installed (make test installs it)")
    env = {**os.environ, "ALERTFLOW_URL": server.url, "ALERTFLOW_KEY": server.api_key}
    ran = []
    for path in GUIDES:
        blocks = runnable_blocks(path)
        # Every call fails its guide on an HTTP error, a problem+json answer: -f.
        lazy = [line for b in blocks for line in b.splitlines() if "curl " in line and "-fsS" not in line]
        assert not lazy, f"{path.name}: {lazy}"
        if not blocks:
            continue
        script = "\n".join(blocks)  # a guide's blocks share a shell: later ones use earlier variables
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
        )
        assert result.returncode == 0, f"{path.name}:\n{script}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        assert "application/problem+json" not in result.stdout
        ran.append(path.name)
    assert {"onboarding.md", "queue.md", "operations.md"} <= set(ran), "the guides lost their runnable examples"


def test_the_grafana_dashboard_asks_only_for_metrics_the_server_exposes(server: Server) -> None:
    text = requests.get(f"{server.url}/metrics", timeout=WAIT_SECONDS).text
    exposed = {line.split()[0].split("{")[0] for line in text.splitlines() if line and not line.startswith("#")}
    exposed |= {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    exprs = [t["expr"] for p in json.loads(GRAFANA.read_text())["panels"] for t in p.get("targets", [])]
    asked = {name for e in exprs for name in PROMQL_NAME.findall(e)}
    assert asked - exposed == set()
