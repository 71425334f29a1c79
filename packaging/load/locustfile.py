"""The standard load test: locust users that publish, send in bulk, edit templates and read
the in-app inbox against a running AlertFlow, as a tenant's backend and browsers would.

Run it for real (the README's "Load testing" section has figures and how they compare with
``alertflow bench``)::

    ALERTFLOW_API_KEY=<owner key> locust -f packaging/load/locustfile.py \\
        --host http://127.0.0.1:8080 --headless -u 50 -r 10 -t 60s

The key needs the owner role: set-up upserts users and writes a template. Each scenario is a
locust user class; pick some with their names on the command line (``PublishUser``, ...).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from locust import FastHttpUser, between, task

# Recipients per bulk request: big enough that fan-out, not the request, is what is measured.
BULK_RECIPIENTS = 100
# A template's channels as the contract writes them; the preview renders these fields.
TEMPLATE = {
    "email": {"subject": "Order {{ order }} shipped", "text": "Hi {{ name }}, order {{ order }} is on its way."},
    "inapp": {"title": "Order {{ order }}", "body": "Shipped to {{ name }}"},
}


class TenantBackend(FastHttpUser):
    """What every scenario shares: the tenant's key on every request, and no think time
    beyond a little jitter, so the figures are the server's and not the users' pace."""

    abstract = True
    wait_time = between(0, 0.01)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        key = os.environ.get("ALERTFLOW_API_KEY")
        if not key:
            raise RuntimeError("set ALERTFLOW_API_KEY to an owner key of the tenant under load")
        # Read by FastHttpUser when it makes the client, so it must be set before that.
        self.default_headers = {"Authorization": f"Bearer {key}"}
        super().__init__(*args, **kwargs)
        self.suffix = uuid.uuid4().hex[:8]


class PublishUser(TenantBackend):
    """Single publishes, the hot path: an inline email to one address."""

    @task
    def publish(self) -> None:
        body = {
            "to": {"email": f"load-{self.suffix}@example.com"},
            "content": {"email": {"subject": "Load", "text": "One of many"}},
        }
        self.client.post("/v1/notifications/publish", json=body, name="publish")


class BulkUser(TenantBackend):
    """Bulk sends, fanned out in the background by the server."""

    @task
    def bulk(self) -> None:
        to = [{"email": f"bulk-{self.suffix}-{i}@example.com"} for i in range(BULK_RECIPIENTS)]
        body = {"to": to, "content": {"email": {"subject": "Bulk", "text": "To many"}}}
        self.client.post("/v1/notifications/bulk", json=body, name="bulk")


class TemplateUser(TenantBackend):
    """Template editing: a new version, then a preview of it (compile and render)."""

    def on_start(self) -> None:
        self.key = f"load-{self.suffix}"
        self.client.post("/v1/templates", json={"key": self.key, "name": "Load", "channels": TEMPLATE})

    @task
    def new_version(self) -> None:
        self.client.put(f"/v1/templates/{self.key}", json={"name": "Load", "channels": TEMPLATE}, name="template")

    @task(3)
    def preview(self) -> None:
        body = {"data": {"name": "Ann", "order": self.suffix}}
        self.client.post(f"/v1/templates/{self.key}/preview", json=body, name="template preview")


class InboxUser(TenantBackend):
    """The in-app inbox: messages published to a user, read as the widget reads them."""

    def on_start(self) -> None:
        self.user = f"load-{self.suffix}"
        self.client.put(f"/v1/users/{self.user}", json={"email": f"{self.user}@example.com"}, name="user")

    @task
    def publish_inapp(self) -> None:
        body = {"to": {"user_id": self.user}, "content": {"inapp": {"title": "Hi", "body": "New"}}}
        self.client.post("/v1/notifications/publish", json=body, name="publish inapp")

    @task(3)
    def read_inbox(self) -> None:
        self.client.get(f"/v1/users/{self.user}/inbox?limit=20", name="inbox")
        self.client.get(f"/v1/users/{self.user}/inbox/count", name="inbox count")

    @task
    def token(self) -> None:
        self.client.post(f"/v1/users/{self.user}/inbox-token", name="inbox token")
