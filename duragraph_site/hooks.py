"""Extension points between apps: how a lower app has work done by the apps above it.

Dependencies between the apps point one way (``events <- assistants <- threads <- runs <-
workers``, checked by import-linter). When a lower app must have something done above it (a
thread deleted must take its runs with it), it declares a :class:`Hook` in its own ``hooks``
module and calls it; the app above registers its handler in ``AppConfig.ready()``. Handlers run
synchronously, in the caller's transaction, in registration order: this is part of the command,
not a notification after it (Django signals are for decoupled extras; these are not).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Hook:
    """A named point where the apps above join in (see the module docstring)."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.__doc__ = doc
        self._handlers: list[Callable[..., Any]] = []

    def register(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """Add *handler* (once: registering it again is a no-op, as ``ready()`` may run twice)."""
        if handler not in self._handlers:
            self._handlers.append(handler)
        return handler

    def __call__(self, **kwargs: Any) -> list[Any]:
        """Call every handler with *kwargs*; returns their results, in registration order."""
        return [handler(**kwargs) for handler in self._handlers]

    def first(self, **kwargs: Any) -> Any:
        """The first handler's result that is not None (a lookup the apps above can answer)."""
        for handler in self._handlers:
            if (found := handler(**kwargs)) is not None:
                return found
        return None

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._handlers)} handler(s)>"
