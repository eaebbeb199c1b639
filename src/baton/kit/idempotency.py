"""``Idempotency-Key`` on creating POSTs: a retried request gets the first answer instead of a second effect.

A route opts in with ``@service.idempotent`` (or :func:`idempotent`). For a request carrying the header:

1. the key is *reserved* first — a row in ``baton_idempotency`` (same database as the service) keyed by
   (route, key), committed before the endpoint runs, so two concurrent duplicates never both execute: the
   second one finds the reservation and gets ``409`` (``Retry-After: 1``) while the first is in progress;
2. the endpoint runs; an answer below 500 is stored (status, a subset of headers, body) and returned;
   a 5xx or an exception releases the reservation, so the client's retry can execute;
3. a later request with the same key and the same body (JSON compared canonically) is answered from the
   store, with ``Idempotent-Replayed: true``; the same key with a *different* body is a ``422`` problem.

Keys are scoped per route (method + route template) **and per caller**, so a key presented by someone else is
a different key, never their answer. The caller is, first match wins: the subject a resolver registered with
:func:`set_caller_resolver` verifies (a user keeps their keys across a token refresh); the credentials of the
``Authorization`` header (only a SHA-256 of them is stored, never the token); the service principal the
service-token middleware verified; else nobody in particular. Stored answers are replayed for ``ttl`` seconds. A
reservation left by a crashed instance is taken over after ``pending_timeout`` seconds — the one window in
which an effect can be applied twice, since the endpoint's own transaction and the stored answer are separate.

**One transaction** for an endpoint that takes the request's session (``session: SessionDep``): the key's row is
inserted as the transaction's first statement and filled with the answer as its last, so the effects, the key and
the stored answer commit together (or not at all) — no separate reservation and completion transactions, and no
window left by a crash. A concurrent duplicate waits for the first transaction on the key's row (SQLite's
writer lock; PostgreSQL's unique index), then finds the row and replays the answer. A key already present
(replay, in-progress, different body, stale) is handled by the steps above. The transaction holds the write lock
from its start, so such an endpoint should not wait on other writers or slow work while it runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from baton.errors import ConfigError
from baton.kit.problems import problem_response, problem_type

__all__ = [
    "IDEMPOTENCY_HEADER",
    "REPLAYED_HEADER",
    "IdempotencyPolicy",
    "idempotency_table",
    "idempotent",
    "kit_metadata",
    "policy_of",
    "run_idempotent",
    "set_caller_resolver",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_ATTRIBUTE = "__baton_idempotent__"
#: Response headers worth replaying; the rest (dates, correlation ids) belong to each new exchange.
_STORED_HEADERS = frozenset({"content-type", "location", "etag", "content-language", "last-modified"})

F = TypeVar("F", bound=Callable[..., Any])

#: The kit's own tables (created by the kit's framework migrations, version table ``baton_kit_version``).
kit_metadata = MetaData()

idempotency_table = Table(
    "baton_idempotency",
    kit_metadata,
    Column("scope", String(300), primary_key=True, comment="METHOD + route template"),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=True, comment="NULL while the first request is in progress"),
    Column("headers", Text, nullable=True),
    Column("body", LargeBinary, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_baton_idempotency_expires_at", "expires_at"),
)

# The statements of a keyed request, built once: building and cache-keying a statement per call costs about as
# much CPU as running it on SQLite. Values go in as parameters (an UPDATE's named w_/v_: a parameter named like a
# column would be taken for one more column to set).
_KEY = (idempotency_table.c.scope == bindparam("w_scope"), idempotency_table.c.key == bindparam("w_key"))
_INSERT_KEY = idempotency_table.insert()
_SELECT_KEY = select(idempotency_table).where(*_KEY)
_STORE_ANSWER = (
    idempotency_table.update()
    .where(*_KEY)
    .values(status_code=bindparam("v_status_code"), headers=bindparam("v_headers"), body=bindparam("v_body"))
)
_DELETE_KEY = delete(idempotency_table).where(*_KEY)
_TAKE_OVER = (
    idempotency_table.update()
    .where(*_KEY, idempotency_table.c.created_at == bindparam("w_created_at"))
    .values(
        status_code=None,
        headers=None,
        body=None,
        request_hash=bindparam("v_request_hash"),
        created_at=bindparam("v_created_at"),
        expires_at=bindparam("v_expires_at"),
    )
)


@dataclass(frozen=True, slots=True)
class IdempotencyPolicy:
    """How an idempotent route treats ``Idempotency-Key``."""

    required: bool = False
    """Reject requests without the header (400) instead of executing them unprotected."""
    ttl: float = 86_400.0
    """Seconds a stored answer is replayed (default one day)."""
    pending_timeout: float = 60.0
    """Seconds after which an unfinished reservation (its instance crashed) may be taken over."""
    max_key_length: int = 255
    """Longest accepted key (characters)."""


def idempotent(fn: F | None = None, *, policy: IdempotencyPolicy | None = None) -> Any:
    """Mark an endpoint as idempotent (``@idempotent`` or ``@idempotent(policy=...)``).

    Attaches the policy to the function and returns it unchanged (it stays directly callable in tests).
    """

    def mark(target: F) -> F:
        setattr(target, _ATTRIBUTE, policy or IdempotencyPolicy())
        return target

    return mark(fn) if fn is not None else mark


CallerResolver = Callable[[Request], Awaitable[str | None]]
"""Who sends ``request``, verified (e.g. the user's subject from their access token); ``None`` when unknown."""
_RESOLVER = "baton_idempotency_caller"


def set_caller_resolver(app: Any, resolver: CallerResolver | None) -> None:
    """Scope idempotency keys by what ``resolver`` verifies instead of the raw credentials (see above).

    The resolver runs before the endpoint, for requests carrying the header only; it must not raise for bad
    credentials (return ``None``: the credentials' hash is used and the endpoint refuses them as usual).
    """
    setattr(app.state, _RESOLVER, resolver)


async def caller_of(request: Request) -> str:
    """The part of an idempotency key's scope naming who sends ``request`` (a hash: no identifier is stored)."""
    resolver: CallerResolver | None = getattr(request.app.state, _RESOLVER, None)
    if resolver is not None and (subject := await resolver(request)):
        return "sub:" + hashlib.sha256(subject.encode()).hexdigest()[:32]
    authorization = request.headers.get("authorization")
    if authorization:
        return "cred:" + hashlib.sha256(authorization.strip().encode()).hexdigest()[:32]
    principal = getattr(request.state, "principal", None)
    subject = getattr(principal, "subject", None)
    if isinstance(subject, str) and subject:
        return "svc:" + hashlib.sha256(subject.encode()).hexdigest()[:32]
    return "anonymous"


_FOLDS = "__baton_folds_idempotency__"
_SLOT = "baton.idempotency"
_folding_routes: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def session_dependency(fn: F) -> F:
    """Mark the kit's request-session dependency: an idempotent endpoint taking it keeps its key in its transaction.

    The dependency must run its transaction through :func:`in_request_transaction`.
    """
    setattr(fn, _FOLDS, True)
    return fn


class _KeyTaken(Exception):
    """The key's row exists already: the request goes through the reservation steps instead."""


@dataclass(slots=True)
class _Fold:
    """An idempotent request whose key rides in the endpoint's own transaction."""

    scope: str
    key: str
    fingerprint: str
    policy: IdempotencyPolicy
    response: Response | None = None


@contextlib.asynccontextmanager
async def in_request_transaction(scope: MutableMapping[str, Any], session: AsyncSession) -> AsyncIterator[None]:
    """Around the body of a request's transaction: insert the key first, store the answer last (see above).

    Does nothing for a request that is not idempotent (or whose key goes through the reservation steps).
    """
    fold = scope.get(_SLOT)
    if not isinstance(fold, _Fold):
        yield
        return
    scope.pop(_SLOT, None)  # one transaction per request carries the key
    now = time.time()
    try:
        # A savepoint would let the transaction go on, but the request must not run at all: let it roll back.
        await session.execute(_INSERT_KEY, _new_key(fold.scope, fold.key, fold.fingerprint, now, fold.policy))
    except IntegrityError as exc:
        raise _KeyTaken(fold.key) from exc
    yield
    where = {"w_scope": fold.scope, "w_key": fold.key}
    response = fold.response
    if response is not None and _replayable(response):
        await session.execute(_STORE_ANSWER, {**where, **_answer(response)})
    else:
        await session.execute(_DELETE_KEY, where)


def _folds(request: Request) -> bool:
    """Whether the matched route's endpoint takes the kit's request session (directly or through a dependency)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if route is None or dependant is None:
        return False
    try:
        return _folding_routes[route]
    except (KeyError, TypeError):
        pass
    found, todo = False, [dependant]
    while todo and not found:
        current = todo.pop()
        found = bool(getattr(current.call, _FOLDS, False))
        todo.extend(current.dependencies)
    with contextlib.suppress(TypeError):
        _folding_routes[route] = found
    return found


def policy_of(endpoint: Callable[..., Any]) -> IdempotencyPolicy | None:
    """The policy attached by :func:`idempotent`, if any."""
    policy = getattr(endpoint, _ATTRIBUTE, None)
    return policy if isinstance(policy, IdempotencyPolicy) else None


def request_fingerprint(body: bytes) -> str:
    """sha256 of the body; JSON bodies are canonicalised first so key order and spacing do not matter."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else body
    except orjson.JSONDecodeError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class _Stored:
    status_code: int
    headers: dict[str, str]
    body: bytes


class _Outcome:
    RESERVED = "reserved"
    IN_PROGRESS = "in_progress"
    MISMATCH = "mismatch"


async def _reserve(
    sessions: async_sessionmaker[AsyncSession],
    *,
    scope: str,
    key: str,
    fingerprint: str,
    policy: IdempotencyPolicy,
) -> str | _Stored:
    where = {"w_scope": scope, "w_key": key}
    for _ in range(3):
        now = time.time()
        try:
            async with sessions() as session, session.begin():
                await session.execute(_INSERT_KEY, _new_key(scope, key, fingerprint, now, policy))
            return _Outcome.RESERVED
        except IntegrityError:
            pass  # the key exists: decide from the stored row below
        async with sessions() as session, session.begin():
            row = (await session.execute(_SELECT_KEY, where)).one_or_none()
            if row is None:
                continue  # released in between; try to reserve again
            stale = row.expires_at < now or (row.status_code is None and row.created_at + policy.pending_timeout < now)
            if stale:
                # Conditional on the row we saw, so two instances cannot both take over the same key.
                taken = await session.execute(
                    _TAKE_OVER,
                    {
                        **where,
                        "w_created_at": row.created_at,
                        "v_request_hash": fingerprint,
                        "v_created_at": now,
                        "v_expires_at": now + policy.ttl,
                    },
                )
                if getattr(taken, "rowcount", 0) == 1:
                    return _Outcome.RESERVED
                continue
            if row.request_hash != fingerprint:
                return _Outcome.MISMATCH
            if row.status_code is None:
                return _Outcome.IN_PROGRESS
            return _Stored(row.status_code, orjson.loads(row.headers or "{}"), row.body or b"")
    return _Outcome.IN_PROGRESS


def _new_key(scope: str, key: str, fingerprint: str, now: float, policy: IdempotencyPolicy) -> dict[str, Any]:
    """The row of a key reserved at ``now``: no answer yet, expiring after the policy's ``ttl``."""
    return {"scope": scope, "key": key, "request_hash": fingerprint, "created_at": now, "expires_at": now + policy.ttl}


async def _complete(sessions: async_sessionmaker[AsyncSession], *, scope: str, key: str, response: Response) -> None:
    async with sessions() as session, session.begin():
        await session.execute(_STORE_ANSWER, {"w_scope": scope, "w_key": key, **_answer(response)})


async def _release(sessions: async_sessionmaker[AsyncSession], *, scope: str, key: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(_DELETE_KEY, {"w_scope": scope, "w_key": key})


def _answer(response: Response) -> dict[str, Any]:
    """The stored answer's columns (``_STORE_ANSWER``'s ``v_`` parameters)."""
    headers = {k: v for k, v in response.headers.items() if k.lower() in _STORED_HEADERS}
    return {"v_status_code": response.status_code, "v_headers": orjson.dumps(headers).decode(), "v_body": response.body}


def _sessions_of(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions = getattr(request.app.state, "baton_sessions", None)
    if sessions is None:
        raise ConfigError("idempotent routes need a running Service with a database (no session factory)")
    return sessions  # type: ignore[no-any-return]


async def run_idempotent(
    request: Request,
    handler: Callable[[Request], Awaitable[Response]],
    *,
    policy: IdempotencyPolicy,
    route: str,
) -> Response:
    """Run ``handler`` under ``policy`` for ``request`` (see the module docstring for the protocol).

    ``route`` is the matched route template; with the method and the caller it scopes the key.
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    path = request.url.path
    if key is None:
        if policy.required:
            return problem_response(400, detail=f"this route requires an {IDEMPOTENCY_HEADER} header", instance=path)
        return await handler(request)
    if not key or len(key) > policy.max_key_length:
        return problem_response(
            400,
            detail=f"{IDEMPOTENCY_HEADER} must be 1..{policy.max_key_length} characters",
            instance=path,
        )

    sessions = _sessions_of(request)
    scope = f"{request.method} {route} {await caller_of(request)}"
    fingerprint = request_fingerprint(await request.body())
    if _folds(request):
        fold = _Fold(scope, key, fingerprint, policy)
        request.scope[_SLOT] = fold
        try:
            fold.response = await handler(request)
            return fold.response
        except _KeyTaken:
            pass  # seen before: replay it, or wait, or refuse — the steps below decide
        finally:
            request.scope.pop(_SLOT, None)
    outcome = await _reserve(sessions, scope=scope, key=key, fingerprint=fingerprint, policy=policy)
    if isinstance(outcome, _Stored):
        return Response(
            outcome.body,
            status_code=outcome.status_code,
            headers={**outcome.headers, REPLAYED_HEADER: "true"},
        )
    if outcome == _Outcome.MISMATCH:
        return problem_response(
            422,
            type=problem_type("IdempotencyKeyReused"),
            title="Idempotency key reused with a different body",
            detail=f"{IDEMPOTENCY_HEADER} {key!r} was first used with another request body; use a new key",
            instance=path,
        )
    if outcome == _Outcome.IN_PROGRESS:
        return problem_response(
            409,
            type=problem_type("IdempotentRequestInProgress"),
            title="A request with this idempotency key is in progress",
            detail="retry after the first request has finished",
            instance=path,
            headers={"Retry-After": "1"},
        )

    outcome_box: list[Response] = []

    async def settle(exc_type: type[BaseException] | None, *_: object) -> bool:
        if exc_type is None and outcome_box and _replayable(outcome_box[0]):
            await _complete(sessions, scope=scope, key=key, response=outcome_box[0])
        else:
            await _release(sessions, scope=scope, key=key)
        return False

    # The endpoint's session dependency commits when FastAPI's function-scoped exit stack closes, which is
    # *after* this handler returns. Registering on that stack before the dependencies are entered makes
    # ``settle`` run after their commit (exit stacks unwind last-in first-out) and before the response is
    # sent — so a stored answer always describes committed effects, and a failed commit releases the key.
    function_stack = request.scope.get("fastapi_function_astack")
    if isinstance(function_stack, contextlib.AsyncExitStack):
        function_stack.push_async_exit(settle)
        response = await handler(request)
        outcome_box.append(response)
        return response
    try:
        response = await handler(request)
    except BaseException as exc:
        await settle(type(exc))
        raise
    outcome_box.append(response)
    await settle(None)
    return response


def _replayable(response: Response) -> bool:
    # Streaming answers cannot be replayed; 5xx answers should not be: the retry must execute.
    return response.status_code < 500 and hasattr(response, "body")
