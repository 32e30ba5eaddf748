"""Who is calling: the bearer key of every /v1 request, its rate limit, and the admin check.

Missing or unknown key: 401. A valid key over its rate: 429 with Retry-After. A key without the
admin role on a write: 403.

The dependencies are `async def` on purpose: they only read memory (and stat the key file), and FastAPI
runs a plain `def` dependency in a worker thread, two thread hops per request under load.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tailor.serve.errors import ApiError
from tailor.serve.keys import ApiKey
from tailor.serve.limits import retry_after_header
from tailor.serve.state import ServeState

bearer = HTTPBearer(auto_error=False, description="An API key made by `tailor keys create`")
CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def get_state(request: Request) -> ServeState:
    return request.app.state.serve


State = Annotated[ServeState, Depends(get_state)]


async def authenticate(
    state: State, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> ApiKey:
    if credentials is None:
        raise ApiError(401, "authorization: send an API key as 'Authorization: Bearer <key>'", "authorization",
                       CHALLENGE)
    key = state.keys.authenticate(credentials.credentials)
    if key is None:
        raise ApiError(401, "authorization: unknown or revoked API key", "authorization", CHALLENGE)
    return admit(state, key)


def admit(state: ServeState, key: ApiKey) -> ApiKey:
    """`key`, once its rate limit allows another request (else the 429)."""
    wait = state.limiter.acquire(key.id)
    if wait:
        raise ApiError(429, f"rate limit of key {key.id} exceeded; retry in {wait:.1f}s", None,
                       {"Retry-After": retry_after_header(wait)})
    return key


Caller = Annotated[ApiKey, Depends(authenticate)]


async def require_admin(key: Caller) -> ApiKey:
    if not key.admin:
        raise ApiError(403, f"key {key.id} is not an admin key; this needs `tailor keys create --admin`")
    return key


Admin = Annotated[ApiKey, Depends(require_admin)]
