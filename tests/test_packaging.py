"""packaging/: the nginx site, the systemd unit, the container files and the CI workflow.

nginx and systemd check their own files here; Docker has no engine on this machine, so its
files are parsed (the Dockerfile with Docker's own parser) and checked against each other.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dockerfile  # type: ignore[import-not-found]
import pytest
import requests
import requests.adapters
import yaml

from tests.conftest import WAIT_SECONDS
from tests.fakes.tls import TlsCert, make_self_signed
from tests.process import Server, free_port

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
SITE = PACKAGING / "nginx" / "alertflow.conf"
UNIT = PACKAGING / "systemd" / "alertflow.service"
DATA_DIR = "/var/lib/alertflow"
MIB = 1024 * 1024


def replace_each(text: str, replacements: dict[str, str]) -> str:
    """``text`` with each key replaced; a key that is not there fails (the file changed)."""
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in the file: update this test"
        text = text.replace(old, new)
    return text


# --- nginx ---------------------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        pytest.skip("nginx is not installed: `make test` installs Debian's as root (apt-get)")
    return found


def nginx_conf(tmp_path: Path, site: str, cert: TlsCert) -> Path:
    """A minimal nginx.conf including the site as Debian's includes sites-enabled/*; every file
    nginx writes is in ``tmp_path``, and the site's certificate is ``cert``."""
    site = replace_each(
        site,
        {
            "/etc/letsencrypt/live/alerts.example.com/fullchain.pem": str(cert.cert_file),
            "/etc/letsencrypt/live/alerts.example.com/privkey.pem": str(cert.key_file),
        },
    )
    (tmp_path / "site.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx runs its workers as nobody, who cannot enter tmp_path (root's, 0700).
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"{user}pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\nevents {{}}\n"
        f"http {{\n    access_log off;\n{temp}\n    include {tmp_path / 'site.conf'};\n}}\n"
    )
    return conf


def nginx_args(tmp_path: Path, conf: Path) -> list[str]:
    return [nginx_binary(), "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")]


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    conf = nginx_conf(tmp_path, SITE.read_text(), make_self_signed(tmp_path))
    result = subprocess.run(
        [*nginx_args(tmp_path, conf), "-t"], check=False, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        assert proc.poll() is None, "nginx exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nginx is not listening on {port}")


@dataclass
class Site:
    """The nginx site as written, running on free loopback ports in front of a server."""

    base: str  # https://127.0.0.1:port
    http_port: int
    cert: TlsCert


@contextlib.contextmanager
def running_site(tmp_path: Path, server: Server) -> Iterator[Site]:
    http_port, https_port = free_port(), free_port()
    site = replace_each(
        SITE.read_text(),
        {
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen [::]:80;": "",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "listen [::]:443 ssl http2;": "",
            "server 127.0.0.1:8080;": f"server 127.0.0.1:{server.port};",
        },
    )
    cert = make_self_signed(tmp_path)
    conf = nginx_conf(tmp_path, site, cert)
    nginx = subprocess.Popen([*nginx_args(tmp_path, conf), "-g", "daemon off;"])
    try:
        wait_for_port(https_port, nginx)
        yield Site(f"https://127.0.0.1:{https_port}", http_port, cert)
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)


def test_nginx_proxies_to_alertflow_with_its_body_limits(tmp_path: Path, servers: list[Server]) -> None:
    server = Server(tmp_path / "srv")
    servers.append(server.start())
    with running_site(tmp_path, server) as running:
        base, http_port, cert = running.base, running.http_port, running.cert
        auth = {"Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"}

        def post(path: str, body: bytes) -> requests.Response:
            return requests.post(base + path, data=body, headers=auth, verify=str(cert.cert_file), timeout=10)

        health = requests.get(f"{base}/healthz", verify=str(cert.cert_file), timeout=10)
        assert health.status_code == 200
        plain = requests.get(f"http://127.0.0.1:{http_port}/healthz", allow_redirects=False, timeout=10)
        assert plain.status_code == 301
        assert plain.headers["Location"] == "https://127.0.0.1/healthz"

        publish = json.dumps(
            {
                "to": {"email": "ann@example.com"},
                "content": {"email": {"subject": "Hi", "text": "-"}},
            }
        ).encode()
        assert post("/v1/notifications/publish", publish).status_code == 202
        too_large = post("/v1/notifications/publish", b" " * (MIB + 1))
        assert too_large.status_code == 413
        assert too_large.headers["Content-Type"] == "application/problem+json"
        assert too_large.json()["status"] == 413
        # Bulk bodies up to 16 MiB pass nginx: AlertFlow answers this one (its problem: no JSON).
        bulk = post("/v1/notifications/bulk", b" " * (2 * MIB))
        assert bulk.status_code != 413 and bulk.headers["Content-Type"].startswith("application/problem+json")


class FromAddress(requests.adapters.HTTPAdapter):
    """Connects from a chosen loopback address, so nginx sees each session as another client."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs, source_address=(self.address, 0))


def client_at(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("https://", FromAddress(address))
    return session


def test_behind_nginx_failed_keys_count_against_the_address_nginx_saw(tmp_path: Path, servers: list[Server]) -> None:
    config = (
        '[server]\npublic_url = "https://alerts.example.com"\ntrusted_proxies = ["127.0.0.1"]\n'
        "[limits]\nauth_failures = 3\n"
    )
    server = Server(tmp_path / "srv", config)
    servers.append(server.start())
    with running_site(tmp_path, server) as site:
        attacker, neighbour = client_at("127.0.0.2"), client_at("127.0.0.3")

        def notifications(client: requests.Session, key: str) -> requests.Response:
            # What a client writes into X-Forwarded-For itself must not change whom it counts as.
            headers = {"Authorization": f"Bearer {key}", "X-Forwarded-For": "203.0.113.9"}
            return client.get(
                f"{site.base}/v1/notifications", headers=headers, verify=str(site.cert.cert_file), timeout=10
            )

        wrong = [notifications(attacker, "af_0badc0de_wrongwrongwrong").status_code for _ in range(3)]
        assert wrong == [401, 401, 401]
        blocked = notifications(attacker, server.api_key)
        assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "300"
        allowed = notifications(neighbour, server.api_key)
        assert allowed.status_code == 200, "the neighbour behind the same nginx is not blocked"
        # One HSTS header, AlertFlow's: the site adds none of its own.
        assert allowed.headers["Strict-Transport-Security"] == "max-age=63072000"

    warnings = [json.loads(line) for line in server.logs().splitlines() if '"auth.blocked"' in line]
    assert [(w["client_address"], w["key_prefix"]) for w in warnings] == [("127.0.0.2", "af_0badc0de")]


# --- systemd -------------------------------------------------------------------------------


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.skip("systemd-analyze is not installed (no systemd here): the unit is unchecked")
    return found


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    """The unit, starting a stand-in executable: verify requires ExecStart to exist."""
    executable = tmp_path / "alertflow"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    copy = tmp_path / "alertflow.service"
    copy.write_text(replace_each(UNIT.read_text(), {"ExecStart=/usr/local/bin/alertflow": f"ExecStart={executable}"}))
    return copy


def test_systemd_verify_accepts_the_unit(unit: Path) -> None:
    result = subprocess.run(
        [systemd_analyze(), "verify", str(unit)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 on unknown keys and unparsable values too, but prints them.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_unit_is_sandboxed(unit: Path) -> None:
    # systemd rates a unit's exposure from 0 to 10; this one scores 1.4 ("OK").
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--threshold=20", str(unit)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    settings = dict(
        line.split("=", 1) for line in unit.read_text().splitlines() if "=" in line and not line.startswith("#")
    )
    assert settings["User"] == "alertflow" and settings["ReadWritePaths"] == DATA_DIR
    assert settings["Environment"].startswith("ALERTFLOW_CONFIG=")


# --- Docker, docker compose, GitHub Actions ------------------------------------------------


def stages() -> dict[str, list[Any]]:
    """The Dockerfile's instructions by stage name, as Docker's parser reads them."""
    found: dict[str, list[Any]] = {}
    current: list[Any] = []
    for command in dockerfile.parse_file(str(PACKAGING / "Dockerfile")):
        if command.cmd == "FROM":
            _image, _as, name = command.value
            current = found.setdefault(name, [])
        current.append(command)
    return found


def test_the_dockerfile_builds_in_one_stage_and_runs_unprivileged_in_another() -> None:
    parsed = stages()
    assert list(parsed) == ["build", "runtime"]
    runtime = {c.cmd: c for c in parsed["runtime"]}
    copied = [c for c in parsed["runtime"] if c.cmd == "COPY"]
    assert [c.flags for c in copied] == [("--from=build",)]
    assert copied[0].value == ("/src/build/dist/alertflow", "/usr/local/bin/alertflow")
    assert runtime["USER"].value[0] not in ("root", "0")
    env = dict(zip(runtime["ENV"].value[::2], runtime["ENV"].value[1::2], strict=True))
    assert runtime["VOLUME"].value == (env["ALERTFLOW_SERVER__DATA_DIR"],) == (DATA_DIR,)
    assert "/healthz" in runtime["HEALTHCHECK"].value[-1]


def test_compose_builds_that_dockerfile_and_keeps_the_data_dir_on_a_volume() -> None:
    compose = yaml.safe_load((PACKAGING / "docker-compose.yml").read_text())
    service = compose["services"]["alertflow"]
    context = (PACKAGING / service["build"]["context"]).resolve()
    assert context == ROOT and (context / service["build"]["dockerfile"]).is_file()
    volume, target = service["volumes"][0].split(":")
    assert volume in compose["volumes"] and target == DATA_DIR
    # The executable unpacks into /tmp and loads libraries from there.
    assert any(t.startswith("/tmp:") and "exec" in t.split(":")[1].split(",") for t in service["tmpfs"])


def test_the_nginx_site_allows_alertflows_body_limits() -> None:
    """Keep the site in step with server.max_body_mb and server.max_bulk_body_mb's defaults."""
    from alertflow.config import ServerConfig

    defaults = ServerConfig.model_validate({})
    site = SITE.read_text()
    assert f"client_max_body_size {int(defaults.max_body_mb)}m;" in site
    assert f"client_max_body_size {int(defaults.max_bulk_body_mb)}m;" in site


# --- several nodes on one PostgreSQL ------------------------------------------------------------

COMPOSE_DIR = PACKAGING / "compose"
CLUSTER_UPSTREAM = PACKAGING / "nginx" / "alertflow-cluster-upstream.conf"


def nginx_test(tmp_path: Path, conf: Path) -> None:
    result = subprocess.run(
        [*nginx_args(tmp_path, conf), "-t"], check=False, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_accepts_the_site_with_the_cluster_upstream(tmp_path: Path) -> None:
    site = SITE.read_text()
    single = site[site.index("upstream alertflow {") : site.index("}", site.index("upstream alertflow {")) + 1]
    upstream = CLUSTER_UPSTREAM.read_text()
    assert upstream.count("server 10.0.0.") == 2 and "least_conn;" in upstream
    nginx_test(tmp_path, nginx_conf(tmp_path, site.replace(single, upstream), make_self_signed(tmp_path)))


def test_nginx_accepts_the_compose_proxy_in_front_of_both_nodes(tmp_path: Path) -> None:
    # Its upstream names resolve only inside compose's network: loopback stands in for them.
    temp = "".join(
        f"    {kind}_temp_path {tmp_path / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        user
        + f"pid {tmp_path / 'nginx.pid'};\n"
        + replace_each(
            (COMPOSE_DIR / "nginx.conf").read_text(),
            {
                "server alertflow-1:8080": "server 127.0.0.1:18081",
                "server alertflow-2:8080": "server 127.0.0.1:18082",
                "listen 80;": f"listen 127.0.0.1:{free_port()};",
                "http {\n": "http {\n" + temp,
            },
        )
    )
    nginx_test(tmp_path, conf)


def test_compose_runs_two_nodes_on_one_postgresql_behind_nginx() -> None:
    compose = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "alertflow-1", "alertflow-2", "nginx"}
    nodes = [services["alertflow-1"], services["alertflow-2"]]
    for node in nodes:
        env = node["environment"]
        assert (
            env["ALERTFLOW_STORAGE__URL"].startswith("postgresql://") and "@postgres:" in env["ALERTFLOW_STORAGE__URL"]
        )
        assert "ALERTFLOW_SERVER__SECRET_KEY" in env, "every node accepts what another signed"
        assert node["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert (COMPOSE_DIR / node["build"]["context"] / node["build"]["dockerfile"]).is_file()
    assert nodes[0]["environment"] == nodes[1]["environment"]
    data = [node["volumes"][0].split(":") for node in nodes]
    assert data[0][1] == data[1][1] == DATA_DIR and data[0][0] != data[1][0], "a data dir (node id) each"
    mounted, target, _ = services["nginx"]["volumes"][0].split(":")
    assert target == "/etc/nginx/nginx.conf" and (COMPOSE_DIR / mounted).resolve() == COMPOSE_DIR / "nginx.conf"
    proxied = (COMPOSE_DIR / "nginx.conf").read_text()
    assert "server alertflow-1:8080" in proxied and "server alertflow-2:8080" in proxied
    assert "proxy_set_header Upgrade $http_upgrade;" in proxied, "WebSockets pass to any node"
