"""``alertflow webpush keys``, added to the CLI through the ``alertflow.commands`` entry points."""

from __future__ import annotations

import json

import click

from .keys import generate_vapid_keys


@click.group("webpush")
def webpush() -> None:
    """Web Push (VAPID) helpers."""


@webpush.command("keys")
@click.option("--json", "as_json", is_flag=True, help="Print {private_key, public_key} as JSON.")
def keys(as_json: bool) -> None:
    """Print a fresh VAPID key pair: private for vapid_private_key, public for browsers."""
    private, public = generate_vapid_keys()
    if as_json:
        click.echo(json.dumps({"private_key": private, "public_key": public}))
        return
    click.echo(f'vapid_private_key = "{private}"  # secret: the toml or PUT /v1/channels/push')
    click.echo(f"public key (applicationServerKey for the browser): {public}")
