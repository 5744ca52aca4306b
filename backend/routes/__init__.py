"""The HTTP routes, one module per resource."""

from backend.schemas import ErrorBody

DESCRIPTIONS = {
    401: "No token, or a token that is expired or invalid (`WWW-Authenticate: Bearer`)",
    403: "`{user_id}` in the path is not the caller",
    404: "No such task for this caller",
    413: "Body over 64 KiB",
    422: "Invalid input: `field` names it, `errors` lists every fault",
    500: "A bug: `INTERNAL_ERROR`, no detail",
    503: "Database or key set unavailable, or a write's outcome unknown (`Retry-After`)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for the errors a route can answer, all in the one error shape."""
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS[status]}
        for status in (*statuses, 500)
    }
