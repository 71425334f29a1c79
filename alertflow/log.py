"""Structured logging: one JSON object per line, with the ids a state change concerns."""

from __future__ import annotations

import json
import logging
import sys
import time
from urllib.parse import urlencode

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

# Attributes every LogRecord has; anything else was passed in ``extra`` and is logged.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
ACCESS_LOGGER = "alertflow.access"
# Query and path parameters whose values are credentials (the inbox WebSocket's ?token=, the
# unsubscribe link's token, a signature): an access log is read by more people than the keys are.
SECRET_PARAMETERS = frozenset({"token", "sig", "signature", "key", "api_key", "secret", "password"})
MASK = "***"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup(level: str = "info", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that narrate every request at INFO would drown the state-change lines.
    for noisy in ("aiohttp.access", "twilio.http_client", "aiosqlite", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class AccessLogger(AbstractAccessLogger):
    """``server.access_log``: one line per request with method, path, status, duration and
    client address. No headers (so never ``Authorization``), and secret parameters masked."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        path = loggable_path(request)
        self.logger.info(
            f"{request.method} {path} {response.status}",
            extra={
                "method": request.method,
                "path": path,
                "status": response.status,
                "duration_ms": round(time * 1000, 1),
                "client": request.remote,
            },
        )


def loggable_path(request: BaseRequest) -> str:
    """The request's path and query with the values of secret parameters replaced by ``***``."""
    path = request.path
    for name, value in getattr(request, "match_info", {}).items():
        if name in SECRET_PARAMETERS and value:
            path = path.replace(value, MASK)
    if not request.query:
        return path
    query = [(k, MASK if k.lower() in SECRET_PARAMETERS else v) for k, v in request.query.items()]
    return f"{path}?{urlencode(query, safe='*')}"


def access_log(enabled: bool) -> logging.Logger | None:
    """The logger for aiohttp's ``access_log``, or None (off). At INFO whatever ``log.level``
    says: turning the access log on is asking for these lines."""
    if not enabled:
        return None
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.setLevel(logging.INFO)
    return logger
