"""Routes whose FastAPI state is built the first time something needs it.

FastAPI builds a route's dependency tree, validators and handler as the route is created:
about 1 ms a route, some 30 ms for the app's 32 operations, on every cold start, where a
cold start serves one of them. A `LazyRoute` keeps only what matching reads (its path's
pattern, its methods, its endpoint) and builds the rest on first use of any of it: the
handler when a request is routed to it, all of it when the document is written.
"""

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from fastapi.routing import APIRoute
from starlette._utils import get_route_path  # what `Route.matches` matches against
from starlette.routing import BaseRoute, Match, compile_path
from starlette.types import Scope


class LazyRoute(APIRoute):
    """An `APIRoute` built on first use. What `Route.matches` reads is set at once, as
    `APIRoute` would set it, so a request that matches no route builds nothing."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        self.deferred: tuple[str, Callable[..., Any], dict[str, Any]] | None = (
            path,
            endpoint,
            options,
        )
        self.path, self.endpoint = path, endpoint
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)
        self.methods = {method.upper() for method in options.get("methods") or ["GET"]}

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """No match where the path does not fit, as Starlette finds it, without FastAPI's
        route-context lookup: a request passes every route before its own (about 1 µs each)."""
        if scope["type"] == "http" and self.path_regex.match(get_route_path(scope)) is None:
            return Match.NONE, {}
        return super().matches(scope)

    def build(self) -> None:
        """Build the route as `APIRoute` does, once; a thread that asks meanwhile waits."""
        with BUILDING:
            deferred, self.deferred = self.deferred, None
            if deferred is not None:
                path, endpoint, options = deferred
                super().__init__(path, endpoint, **options)

    if not TYPE_CHECKING:  # to the type checker, a route has only APIRoute's attributes

        def __getattr__(self, name: str) -> Any:
            """Anything not set yet: build, then look again (once built, or while this
            thread builds it, a missing name is missing)."""
            if name.startswith("__"):
                raise AttributeError(name)
            self.build()
            try:
                return self.__dict__[name]
            except KeyError:
                raise AttributeError(name) from None


BUILDING = threading.RLock()
"""Held while a route is built: re-entered by FastAPI's own lookups during the build."""


def build_all(routes: Iterable[BaseRoute]) -> None:
    """Build every lazy route now (before a SnapStart snapshot)."""
    for route in routes:
        if isinstance(route, LazyRoute):
            route.build()
