"""An example of every request body, by its model's name, for /openapi.json and the reference.

Kept in one table rather than on each model: the examples are documentation of the API as a
whole (one user, one template, one topic throughout), and tests/test_openapi.py validates every
one against its model, so an example that no longer parses fails the suite.
"""

from __future__ import annotations

from typing import Any

_CONTENT = {"email": {"subject": "Disk alert on {{ host }}", "text": "/var is {{ percent }}% full"}}

EXAMPLES: dict[str, dict[str, Any]] = {
    "PublishRequest": {
        "to": {"user_id": "ann"},
        "template": "disk-alert",
        "data": {"host": "db-1", "percent": 95},
        "category": "alerts",
        "priority": "high",
    },
    "BulkRequest": {
        "topic": "ops",
        "content": _CONTENT,
        "data": {"host": "db-1", "percent": 95},
        "channels": ["email"],
        "category": "alerts",
    },
    "ScheduleIn": {
        "name": "weekly digest",
        "cron": "0 9 * * 1",
        "timezone": "Europe/Berlin",
        "topic": "ops",
        "template": "digest",
        "data": {"week": 12},
    },
    "ScheduleUpdate": {
        "name": "weekday digest",
        "cron": "0 8 * * 1-5",
        "timezone": "Europe/Berlin",
        "topic": "ops",
        "template": "digest",
        "data": {"week": 12},
    },
    "ReplayFilter": {"channel": "email", "since": "2026-11-30T00:00:00Z"},
    "UserIn": {
        "email": "ann@example.com",
        "phone": "+14155550100",
        "push_tokens": ["fcm-registration-token"],
        "locale": "de-AT",
        "timezone": "Europe/Vienna",
        "name": "Ann",
        "data": {"plan": "pro"},
    },
    "CategoryIn": {"name": "Account news", "priority": "medium", "opt_out_allowed": True},
    "Preferences": {
        "channels": {"sms": False},
        "categories": {"marketing": {"enabled": False}, "alerts": {"channels": {"email": False}}},
        "quiet_hours": {"start": "22:00", "end": "07:00"},
    },
    "SubscribersIn": {"user_ids": ["ann", "bob"], "mode": "add"},
    "TemplateIn": {
        "key": "disk-alert",
        "name": "Disk alert",
        "channels": {**_CONTENT, "sms": {"body": "{{ host }}: /var {{ percent }}% full"}},
        "locales": {
            "de": {"email": {"subject": "Plattenalarm auf {{ host }}", "text": "/var ist zu {{ percent }}% voll"}}
        },
    },
    "VersionIn": {"channels": _CONTENT},
    "ActivateIn": {"version": 1},
    "PreviewIn": {"data": {"host": "db-1", "percent": 95}, "locale": "de"},
    "DraftIn": {
        "channels": {"sms": {"body": "{{ host }}: /var {{ percent }}% full"}},
        "locales": {"de": {"sms": {"body": "{{ host }}: /var zu {{ percent }}% voll"}}},
        "data": {"host": "db-1", "percent": 95},
        "locale": "de-AT",
    },
    "SendgridIn": {
        # The Event Webhook's verification key as SendGrid's settings page shows it.
        "public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0y5R9KAqnxj8COOOt0+05CzQlpmym0i9yvxc2XZJZibLDAVC"
        "AkxXFKtZkRv9a3mTMTbEiQjCGBAiO58BijY4Jw=="
    },
    "MemberIn": {"email": "ann@example.com", "role": "admin"},
    "MemberChange": {"role": "member"},
    "TenantIn": {"name": "acme"},
    "TenantChoice": {"tenant_id": "ten_01m8ssv2c20000gkfkp1cvkxzp"},
    "PasswordChange": {"current_password": "the one I have now", "new_password": "correct horse battery staple"},
    "WebhookIn": {
        "url": "https://app.example.com/alertflow",
        "events": ["delivery.failed", "delivery.dead"],
        "description": "ops: failures",
    },
    "WebhookPatch": {"enabled": True, "events": ["delivery.failed", "delivery.dead", "batch.completed"]},
    "KeyIn": {"name": "billing backend", "role": "member"},
    "ChannelTestIn": {"to": {"email": "ops@example.com"}},
    "RetentionIn": {"notifications": 30, "outbox": 3, "audit": None},
    "SuppressionIn": {"reason": "manual", "detail": "asked by phone not to be mailed"},
    "ChannelIn": {
        "providers": [
            {
                "type": "smtp",
                "config": {
                    "host": "email-smtp.eu-west-1.amazonaws.com",
                    "port": 587,
                    "security": "starttls",
                    "username": "AKIAEXAMPLE",
                    "password": "smtp-password",
                    "from_address": "alerts@example.com",
                },
            },
            {
                "type": "smtp",
                "rate_per_second": 5,
                "config": {"host": "smtp.sendgrid.net", "from_address": "alerts@example.com"},
            },
        ]
    },
}

# Bodies that are not JSON, by media type: POST /v1/users/import's (Route.accepts). The same
# users in both forms; tests/test_openapi.py imports each one.
IMPORT_BODIES: dict[str, str] = {
    "text/csv": "user_id,email,phone,name,locale,timezone,data\nann,ann@example.com,+14155550100,Ann,de-AT,"
    'Europe/Vienna,"{""plan"": ""pro""}"\nbob,bob@example.com,,Bob,,,\n',
    "application/x-ndjson": '{"user_id": "ann", "email": "ann@example.com", "phone": "+14155550100", "name": "Ann",'
    ' "locale": "de-AT", "timezone": "Europe/Vienna", "data": {"plan": "pro"}}\n'
    '{"user_id": "bob", "email": "bob@example.com", "name": "Bob"}\n',
}
