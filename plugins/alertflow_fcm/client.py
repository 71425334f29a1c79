"""pyfcm's client, made safe to run in a worker thread on behalf of a queue."""

from __future__ import annotations

from typing import Any

import requests
from google.auth.transport.requests import Request
from google.oauth2 import service_account
from pyfcm import FCMNotification
from pyfcm.errors import InvalidDataError

from alertflow.providers.netguard import OutboundGuard
from alertflow_provider_kit import GuardedAdapter, guarded_session, json_object

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


class FcmReplyError(Exception):
    """FCM answered something other than 200; the reply, parsed as far as FCM documents it."""

    def __init__(self, status: int, body: str, retry_after: str | None) -> None:
        self.status = status
        self.retry_after = retry_after
        error = json_object(body).get("error")
        error = error if isinstance(error, dict) else {}
        self.message = str(error.get("message") or body[:200])
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        # google.firebase.fcm.v1.FcmError carries FCM's own code (UNREGISTERED, ...).
        self.error_code = next((str(d["errorCode"]) for d in details if "errorCode" in d), None)
        # google.rpc.BadRequest names the offending fields ("message.token").
        self.bad_fields = frozenset(
            str(v.get("field"))
            for d in details
            for v in d.get("fieldViolations") or []
            if isinstance(v, dict)
        )
        super().__init__(f"fcm {status} {self.error_code or ''}: {self.message}")


class FcmClient(FCMNotification):
    """One FCM project's sender.

    pyfcm's own ``send_request`` sleeps for any Retry-After and retries recursively without
    limit, which would pin a worker thread for as long as FCM asks; its default adapter also
    retries 502/503 for minutes. Here every reply comes straight back and the queue decides.
    Both the FCM endpoint and the key's token endpoint are reached only where ``guard``
    allows, with no redirect followed.
    """

    def __init__(
        self,
        service_account_info: dict[str, Any],
        project_id: str,
        endpoint: str,
        guard: OutboundGuard,
    ) -> None:
        credentials = service_account.Credentials.from_service_account_info(
            service_account_info, scopes=[FCM_SCOPE]
        )
        self._adapter = GuardedAdapter(guard, max_retries=0)
        # pyfcm fetches tokens through a default requests session of its own: not this one.
        self._token_session = guarded_session(guard)
        super().__init__(credentials=credentials, project_id=project_id, adapter=self._adapter)
        self._end_point = f"{endpoint.rstrip('/')}/v1/projects/{project_id}/messages:send"

    @property
    def requests_session(self) -> requests.Session:
        session: requests.Session = super().requests_session  # one per thread, token refreshed
        session.trust_env = False  # an environment proxy would connect past the guard
        return session

    def _get_access_token(self) -> str:
        try:
            self.credentials.refresh(Request(session=self._token_session))
        except Exception as exc:  # as pyfcm does: google-auth raises assorted errors
            raise InvalidDataError(exc) from exc
        return str(self.credentials.token)

    @property
    def fcm_end_point(self) -> str:
        # The configured project wins; pyfcm would prefer the service account's.
        return self._end_point

    def send_request(
        self, payload: bytes | None = None, timeout: float | None = None
    ) -> requests.Response:
        response = self._post(payload, timeout)
        if self._is_access_token_expired(response):
            self.thread_local.token_expiry = 0  # fetch a new token on the next access, once
            response = self._post(payload, timeout)
        return response

    def _post(self, payload: bytes | None, timeout: float | None) -> requests.Response:
        session = self.requests_session  # refreshes the token when due
        return session.post(
            self.fcm_end_point, data=payload, timeout=timeout, allow_redirects=False
        )

    def parse_response(self, response: requests.Response) -> dict[str, Any]:
        if response.status_code != 200:
            raise FcmReplyError(
                response.status_code, response.text, response.headers.get("Retry-After")
            )
        reply = response.json()
        return reply if isinstance(reply, dict) else {}

    def close(self) -> None:
        self._adapter.close()
        self._token_session.close()
