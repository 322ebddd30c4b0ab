"""A SAX driver for feedparser's strict parser that refuses XML entity declarations.

Registered as feedparser's preferred XML parser (``PREFERRED_XML_PARSERS``). It forbids every
``<!ENTITY>`` declaration (billion laughs, quadratic blow-up, external entities) and never
resolves anything external, but, unlike stock defusedxml, tolerates an external DTD *reference*
such as the one in the common Netscape RSS 0.91 DOCTYPE: that reference is inert because
nothing loads it.

The refusal is deliberately *not* a ``SAXException``: feedparser catches those and retries with
its lenient parser, which expands simple entities itself. Our exception goes straight through to
the caller, which reports it as a ``ParseError``.
"""

from __future__ import annotations

from typing import Any
from xml.sax.expatreader import ExpatParser


class EntityDeclarationRefused(ValueError):
    """The document declared an entity: refused whatever its content."""


class EntityRefusingParser(ExpatParser):
    """expat with entity declarations refused and external references ignored."""

    def reset(self) -> None:
        super().reset()
        parser: Any = self._parser  # type: ignore[attr-defined]
        parser.EntityDeclHandler = self._refuse_entity
        parser.UnparsedEntityDeclHandler = self._refuse_unparsed
        # Never fetch external DTDs or entities (returning 1 means "handled"; nothing is read).
        parser.ExternalEntityRefHandler = lambda *args: 1

    def _refuse_entity(self, name: str, is_pe: bool, value: str | None, *rest: Any) -> None:
        kind = "parameter entity" if is_pe else "entity"
        raise EntityDeclarationRefused(f"{kind} {name!r} declared")

    def _refuse_unparsed(self, name: str, *rest: Any) -> None:
        raise EntityDeclarationRefused(f"unparsed entity {name!r} declared")


def create_parser(*args: Any, **kwargs: Any) -> EntityRefusingParser:
    """The entry point ``xml.sax.make_parser`` looks for in a driver module."""
    return EntityRefusingParser(*args, **kwargs)
