"""``/graphql``: GraphQL over HTTP (``POST`` JSON ``{query, variables, operationName}``, or ``GET ?query=``).

The schema is built from the content types when the hub starts, so the endpoint executes it directly rather
than through a router fixed at import time. Every request runs in one database transaction (a mutation's
writes, outbox events and webhook deliveries commit together) and with the caller's API token or public role.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from apps.shop.content.graphql.resolvers import GraphQLContext
from apps.shop.content.problems import ContentApiError
from apps.shop.content.service import hub, service

__all__: list[str] = []


def _answer(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/graphql-response+json")


async def _request(request: Request) -> dict[str, Any]:
    if request.method == "GET":
        variables = request.query_params.get("variables")
        return {
            "query": request.query_params.get("query"),
            "variables": orjson.loads(variables) if variables else None,
            "operationName": request.query_params.get("operationName"),
        }
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        body = None
    return body if isinstance(body, dict) else {}


@service.router.api_route("/graphql", methods=["GET", "POST"], include_in_schema=False)
async def graphql_endpoint(request: Request) -> Response:
    """Execute one GraphQL operation (GET only runs queries)."""
    access = hub.tokens.identify(request.headers.get("authorization"))
    payload = await _request(request)
    query = payload.get("query")
    if not isinstance(query, str) or not query.strip():
        return _answer({"errors": [{"message": "a GraphQL request needs a query"}]}, status=400)
    if request.method == "GET" and query.lstrip().startswith("mutation"):
        return _answer({"errors": [{"message": "mutations need POST"}]}, status=405)
    async with service.transaction() as session:
        context = GraphQLContext(hub.registry, hub.limits, hub.documents, access, session)
        result = await hub.graphql.execute(
            query,
            variable_values=payload.get("variables"),
            operation_name=payload.get("operationName"),
            context_value=context,
        )
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [_error(e) for e in result.errors]
    return _answer(body)


def _error(error: Any) -> dict[str, Any]:
    formatted: dict[str, Any] = error.formatted
    original = getattr(error, "original_error", None)
    if isinstance(original, ContentApiError):
        # The Strapi GraphQL plugin reports the same error names as REST under extensions.
        formatted["extensions"] = {"error": original.body()["error"], "code": original.name}
    return formatted
