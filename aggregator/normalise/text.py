"""HTML for republishing (sanitised with nh3) and plain text for matching (selectolax)."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import nh3
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# Removed with everything inside them, not merely unwrapped.
_DROP_WITH_CONTENT = {
    "script",
    "style",
    "noscript",
    "iframe",
    "object",
    "embed",
    "svg",
    "math",
    "template",
    "form",
    "select",
    "textarea",
    "button",
}


def sanitise_html(markup: str, base_url: str) -> str:
    """Safe HTML to republish: no scripts, handlers, styles, frames; only http(s)/mailto links.

    Relative links and images are made absolute against ``base_url`` (a feed reader showing our
    feed has no other way to resolve them). URLs are judged the way browsers read them (the
    sanitiser parses them by the URL standard: entities decoded, tabs and newlines dropped), so
    "java&#x09;script:" is a javascript: link, and goes.
    """
    if not markup:
        return ""
    base = base_url if urlsplit(base_url).scheme in ("http", "https") else None
    return nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        url_relative=("rewrite_with_base", base) if base else None,  # None: kept as written
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "tr",
    "table",
    "section",
    "article",
    "figure",
    "figcaption",
    "header",
    "footer",
    "aside",
    "pre",
    "hr",
    "dd",
    "dt",
    "dl",
    "main",
    "nav",
    "address",
    "details",
    "summary",
    "caption",
}


# Unicode spaces (no-break, thin, ideographic...) are spaces; so is the zero-width space, which
# str.split alone would keep inside a word.
def _lines(raw: str) -> str:
    """Whitespace collapsed within each line; empty lines dropped."""
    lines = (" ".join(line.split()) for line in raw.replace("\u200b", " ").split("\n"))
    return "\n".join(line for line in lines if line)


_SKIP = {"script", "style", "noscript", "template", "-comment"}


def _walk(root: Node, out: list[str]) -> None:
    """Append the text under ``root`` to ``out``, a line break around each block element.

    Iterative, not recursive: hostile HTML nests tens of thousands of elements deep.
    """
    # The stack holds nodes to visit, and strings to emit once a block's children are done.
    stack: list[Node | str] = []
    child = root.child
    while child is not None:
        stack.append(child)
        child = child.next
    stack.reverse()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        tag = item.tag
        if tag == "-text":
            # Line breaks in the source are spaces; only block elements break lines.
            out.append((item.text_content or "").replace("\n", " ").replace("\r", " "))
            continue
        if tag in _SKIP:
            continue
        block = tag in BLOCK_TAGS
        if block:
            out.append("\n")
        children: list[Node | str] = []
        node = item.child
        while node is not None:
            children.append(node)
            node = node.next
        if block:
            children.append("\n")
        elif tag in ("td", "th"):
            children.append(" ")
        stack.extend(reversed(children))


# Tags of sanitised HTML (the sanitiser's output: well-formed, attribute values quoted; a ">" may
# stand inside a quoted value, so quoted runs are skipped as a whole).
_ATTRS = r"""[^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*"""
_BLOCK_TAG = re.compile(
    r"</?(?:" + "|".join(sorted(BLOCK_TAGS, key=len, reverse=True)) + rf")(?![\w-]){_ATTRS}>", re.I
)
_CELL_END = re.compile(r"</t[dh]\s*>", re.I)
_ANY_TAG = re.compile(rf"</?[A-Za-z][\w-]*{_ATTRS}>")


def sanitised_to_text(markup: str) -> str:
    """``html_to_text`` for HTML that came out of ``sanitise_html``: the same text, without
    building a tree (the sanitiser has already removed scripts, styles and comments and written
    well-formed tags, so the tags can be read off the string). Several times faster, and this
    runs for every new entry."""
    if not markup:
        return ""
    if "<" in markup or "&" in markup:
        raw = markup.replace("\r", " ").replace("\n", " ")  # line breaks come from block elements only
        raw = _ANY_TAG.sub("", _CELL_END.sub(" ", _BLOCK_TAG.sub("\n", raw)))
        raw = html.unescape(raw)
    else:
        raw = markup.replace("\r", " ")
    return _lines(raw)


def html_to_text(html: str) -> str:
    """Plain text: block elements on lines of their own, whitespace collapsed, no empty lines."""
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        raw = html
    else:
        tree = HTMLParser(f"<div>{html}</div>")
        root = tree.body or tree.root
        if root is None:
            return ""
        parts: list[str] = []
        _walk(root, parts)
        raw = "".join(parts)
    return _lines(raw)
