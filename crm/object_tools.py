"""Links that an app above adds to a lower app's admin page, without either admin importing
the other (the layers and the "admin presents" contract forbid it).

A page asks `object_tools(request, obj)` for the links registered for its model and
shows them beside its own buttons; an app above registers a provider in its admin module:
`register(Batch, provider)`, where `provider(request, obj)` returns a list of
`{"label", "url", "kind"}` (empty when the link does not apply or the user may not follow
it). Example: the carriers' "Create labels" on a locked batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

Provider = Callable[..., list[dict[str, str]]]

_providers: dict[type, list[Provider]] = defaultdict(list)


def register(model: type, provider: Provider) -> None:
    if provider not in _providers[model]:
        _providers[model].append(provider)


def object_tools(request, obj) -> list[dict[str, str]]:
    """The links registered for `obj`'s model, in registration order."""
    return [tool for provider in _providers[type(obj)] for tool in provider(request, obj)]
