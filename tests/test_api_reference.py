"""/docs: the interactive reference (vendored Swagger UI, pinned by hash) renders every
operation of /openapi.json in a real browser under the page's Content-Security-Policy, and
the OpenAPI document is valid OpenAPI 3.1 by openapi-spec-validator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from alertflow.api.examples import IMPORT_BODIES
from tests.conftest import Harness

VENDOR = Path(__file__).resolve().parent.parent / "web" / "static" / "vendor" / "swagger-ui"


def test_the_vendored_swagger_ui_is_the_pinned_release() -> None:
    source = json.loads((VENDOR / "SOURCE.json").read_text())
    present = {p.name for p in VENDOR.iterdir()} - {"SOURCE.json"}
    assert present == set(source["sha256"])
    for name, digest in source["sha256"].items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


async def test_the_openapi_document_is_valid_openapi(app: Harness) -> None:
    spec = await (await app.client.get("/openapi.json")).json()
    validate(spec)
    assert spec["openapi"].startswith("3.1")


async def test_the_reference_renders_every_operation_under_the_pages_policy(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    spec = await (await app.client.get("/openapi.json")).json()
    operations = sum(len(ops) for ops in spec["paths"].values())
    page = await browser.new_page(viewport={"width": 1200, "height": 800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} at {m.location['url']}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    await page.goto(str(app.client.make_url("/docs")))

    await expect(page.locator("#reference .opblock")).to_have_count(operations)
    await page.locator("#operations-notifications-publish .opblock-summary").click()
    body = page.locator("#operations-notifications-publish .opblock-body")
    await expect(body).to_contain_text("Request body")
    await expect(body.locator(".body-param__example, .example").first).to_contain_text('"to"')
    # A body that is not JSON: the import's media types to choose from, each with its example.
    await page.locator("#operations-users-import_users .opblock-summary").click()
    imported = page.locator("#operations-users-import_users .opblock-body")
    await expect(imported).to_contain_text("Request body")
    await expect(imported.locator(".body-param-content-type select option")).to_have_text(
        list(IMPORT_BODIES), ignore_case=False
    )
    await expect(imported.locator(".body-param__example, .example").first).to_contain_text("user_id,email")
    assert [e for e in errors if "/favicon.ico" not in e] == []
