"""/v1/members: the people of the caller's tenant. As with keys (the contract's role rules), an
admin invites, re-roles and removes admins and members; an owner does so for owners too."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from .. import members
from ..errors import ApiError, invalid
from ..storage import member_rows
from ..storage.database import Tx
from ..tenants import Role
from .audit import note
from .context import services
from .middleware import json_response, principal, read_model
from .routing import ITEMS, STRING, Routes, obj

api = Routes()
RoleName = Literal["owner", "admin", "member"]
MEMBER = obj(member_id=STRING, email=STRING, role=STRING, password_set={"type": "boolean"}, created_at=STRING)


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=members.MAX_EMAIL)
    role: RoleName


class MemberChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: RoleName


def may_manage(request: web.Request, *roles: Role) -> None:
    caller = principal(request)
    if not members.may_manage(caller.role, *roles):
        raise ApiError("forbidden", f"an {caller.role.name} manages admins and members only; owners are the owners'")


def of_tenant(tx: Tx, tenant_id: str, member_id: str) -> member_rows.MemberRow:
    """The tenant's member; another tenant's (or an operator) is a 404, as the contract says."""
    found = member_rows.member(tx, member_id)
    if found is None or found.tenant_id != tenant_id:
        raise ApiError("not-found", f"no member {member_id!r} in this tenant")
    return found


def keep_an_owner(tx: Tx, target: member_rows.MemberRow) -> None:
    """409 when the change would leave the tenant without an owner member (no one could sign
    in to manage providers and owners any more)."""
    if target.role == Role.owner.name and target.tenant_id and member_rows.count_owners(tx, target.tenant_id) == 1:
        raise ApiError("conflict", "this is the tenant's last owner member: make another member owner first")


@api.get("/v1/members", role=Role.admin, response=ITEMS)
async def list_members(request: web.Request) -> web.Response:
    """List the tenant's members, oldest first."""
    found = await member_rows.tenant_members(services(request).database, principal(request).tenant_id)
    return json_response({"items": [members.view(m) for m in found]})


@api.post(
    "/v1/members",
    role=Role.admin,
    body=MemberIn,
    status=201,
    response=obj(member_id=STRING, invite_url=STRING),
    problems=("conflict",),
)
async def invite(request: web.Request) -> web.Response:
    """Add a member with a role; the answer's invite_url is a one-time link that sets their password."""
    svc, caller = services(request), principal(request)
    body = await read_model(request, MemberIn)
    email = members.normalise_email(body.email)
    if problem := members.email_problem(email):
        raise invalid("email", problem)
    may_manage(request, Role[body.role])
    now, ttl, entry = svc.clock.now(), svc.config.sessions.invite_ttl_seconds, note(request)

    def add(tx: Tx) -> tuple[str, str]:
        try:
            member_id = members.create(tx, email, caller.tenant_id, Role[body.role], now)
        except members.DuplicateEmail:
            raise ApiError("conflict", f"{email} is a member already (of this or another tenant)") from None
        entry(tx, "member.invite", ("member", member_id), after={"email": email, "role": body.role})
        return member_id, members.new_link(tx, member_id, now, ttl)

    member_id, token = await svc.database.write(add)
    url = members.link_url(svc.config.server.base_url, token)
    return json_response({"member_id": member_id, "invite_url": url}, 201)


@api.route(
    "PATCH", "/v1/members/{member_id}", role=Role.admin, body=MemberChange, response=MEMBER, problems=("conflict",)
)
async def change_role(request: web.Request) -> web.Response:
    """Change a member's role."""
    svc, caller = services(request), principal(request)
    body = await read_model(request, MemberChange)
    new_role, entry = Role[body.role], note(request)

    def change(tx: Tx) -> dict[str, Any]:
        target = of_tenant(tx, caller.tenant_id, request.match_info["member_id"])
        may_manage(request, Role[target.role or "member"], new_role)
        if new_role is not Role.owner:
            keep_an_owner(tx, target)
        member_rows.set_role(tx, target.member_id, new_role.name)
        entry(tx, "member.update", ("member", target.member_id), {"role": target.role}, {"role": new_role.name})
        return members.view(member_rows.member(tx, target.member_id) or target)

    return json_response(await svc.database.write(change))


@api.post("/v1/members/{member_id}/reset", role=Role.admin, response=obj(invite_url=STRING))
async def reset(request: web.Request) -> web.Response:
    """A new one-time link that sets the member's password (as `alertflow members reset-password`);
    earlier links stop working, and the current password works until the link is used."""
    svc, caller, entry = services(request), principal(request), note(request)
    now, ttl = svc.clock.now(), svc.config.sessions.reset_ttl_seconds

    def renew(tx: Tx) -> str:
        target = of_tenant(tx, caller.tenant_id, request.match_info["member_id"])
        may_manage(request, Role[target.role or "member"])
        entry(tx, "member.reset", ("member", target.member_id), after={"email": target.email})
        return members.new_link(tx, target.member_id, now, ttl)

    token = await svc.database.write(renew)
    return json_response({"invite_url": members.link_url(svc.config.server.base_url, token)})


@api.delete("/v1/members/{member_id}", role=Role.admin, problems=("conflict",))
async def remove(request: web.Request) -> web.Response:
    """Remove a member: their sessions end at once."""
    svc, caller, entry = services(request), principal(request), note(request)

    def delete(tx: Tx) -> None:
        target = of_tenant(tx, caller.tenant_id, request.match_info["member_id"])
        may_manage(request, Role[target.role or "member"])
        keep_an_owner(tx, target)
        # Before the row goes: the entry names the remover, who may be the member removed.
        entry(tx, "member.remove", ("member", target.member_id), {"email": target.email, "role": target.role})
        member_rows.remove_member(tx, target.member_id)

    await svc.database.write(delete)
    return web.Response(status=204)
