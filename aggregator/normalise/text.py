"""HTML for republishing (sanitised with nh3) and plain text for matching (selectolax)."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin, urlsplit

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
    "q": {"cite"},
    "blockquote": {"cite"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_URL_JUNK = re.compile(r"[\x00-\x20\x7f]+")
_URL_ATTRS = {"href", "src", "cite"}
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
    feed has no other way to resolve them).
    """
    if not markup:
        return ""

    def resolve(tag: str, attr: str, value: str) -> str | None:
        if attr not in _URL_ATTRS:
            return value
        # Browsers drop tabs, newlines and leading controls from URLs ("java\tscript:" runs):
        # read the URL the way they will before judging its scheme.
        absolute = urljoin(base_url, _URL_JUNK.sub("", html.unescape(value)))
        return absolute if urlsplit(absolute).scheme.lower() in URL_SCHEMES else None

    return nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=resolve,
        url_schemes=URL_SCHEMES,
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
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")


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
    lines = (_SPACES.sub(" ", line).strip() for line in raw.split("\n"))
    return "\n".join(line for line in lines if line)
