"""The caller as the token names them."""

from backend.auth import AuthenticatedRoute, CurrentUser
from backend.routes import error_responses, routes_at
from backend.schemas import Me

router = routes_at("/api/me", tags=["me"], route_class=AuthenticatedRoute)


@router.get("", responses=error_responses(401, 503))
async def me(user: CurrentUser) -> Me:
    """Who the token says the caller is: its `sub`, and `email` and `name` when it has them."""
    return Me(user_id=user.id, email=user.email, name=user.name)
