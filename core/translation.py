"""Labels an organization writes in several languages (preference names, return reasons)."""

from __future__ import annotations

from django.utils import translation


def translated(default: str, labels: dict, language: str | None = None) -> str:
    """The label in `language` (the active one by default) if given, else `default`."""
    language = (language or translation.get_language() or "").split("-")[0]
    return (labels or {}).get(language) or default
