"""Placeholder until the rendering room lands (replaced by the i18n branch)."""

from __future__ import annotations

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es")


def negotiate_language(explicit: object, accept_language: str | None, default: str) -> str:
    if isinstance(explicit, str) and explicit[:2].lower() in SUPPORTED_LANGUAGES:
        return explicit[:2].lower()
    for part in (accept_language or "").split(",")[:20]:
        tag = part.split(";", 1)[0].strip()[:2].lower()
        if tag in SUPPORTED_LANGUAGES:
            return tag
    return default
