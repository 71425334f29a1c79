"""Messages as the core hands them to a provider."""

from __future__ import annotations

from typing import Any

from alertflow.message import Message, Recipient


def message(
    channel: str,
    content: dict[str, Any],
    *,
    delivery_id: str = "dlv_01HZX3K9",
    notification_id: str = "ntf_01HZX3K8",
    priority: str = "medium",
    headers: dict[str, str] | None = None,
    **recipient: Any,
) -> Message:
    return Message(
        tenant_id="ten_acme",
        notification_id=notification_id,
        delivery_id=delivery_id,
        channel=channel,
        recipient=Recipient(**recipient),
        content=content,
        category="alerts",
        priority=priority,
        headers=headers or {},
    )
