"""HTML -> the text a reader sees on the page, its headings as Markdown `#` lines, page furniture left out.

lxml parses the page; qa renders it itself rather than through a Markdown converter, because converters change
what the page says: trafilatura's Markdown put backticks around code and `**` around emphasis, escaped brackets
(`\\[Contents\\]`), lost a `<var>` inside `<code>` and a heading's words, and kept navigation lines as content
(benchmarks/formats.md has the measurement).
"""

from __future__ import annotations

import html as entities
import re
from collections.abc import Callable

from qa.load.markup import TextWriter, collapse

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "hr",
        "html",
        "legend",
        "li",
        "main",
        "menu",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
_INVISIBLE = frozenset(
    [
        "script",
        "style",
        "template",
        "head",
        "title",
        "meta",
        "link",
        "noscript",
        "iframe",
        "object",
        "embed",
        "svg",
        "canvas",
        "video",
        "audio",
        "map",
        "button",
        "select",
        "option",
        "input",
        "textarea",
        "datalist",
    ]
)
_NAV_WORDS = re.compile(r"^(?:next|prev|previous|up|home|top|contents|index|back|forward|about|[\W\d_]+)$", re.I)


def _classes(el) -> set[str]:  # type: ignore[no-untyped-def]
    return set((el.get("class") or "").lower().split()) | {(el.get("id") or "").lower()}


def _hidden(el) -> bool:  # type: ignore[no-untyped-def]
    style = (el.get("style") or "").replace(" ", "").lower()
    return el.get("hidden") is not None or el.get("aria-hidden") == "true" or "display:none" in style


def _links_only(el) -> bool:  # type: ignore[no-untyped-def]
    """A block whose words are all link texts or navigation labels: a menu, a pager, a table of contents."""
    links = el.xpath(".//a[@href]")
    if len(links) < 2:
        return False
    outside = [t for t in el.xpath(".//text()[not(ancestor::a)]") if t.strip()]
    return all(
        _NAV_WORDS.match(w.strip(":,;|[]()<>«»")) or not w.strip(":,;|[]()<>«»") for t in outside for w in t.split()
    )


# class or id tokens of navigation; not "sidebar": DocBook's sidebars ("TIP", "CULTURE" boxes) are content
_NAV_CLASSES = frozenset(
    [
        "header",
        "nav-panel",
        "navheader",
        "navfooter",
        "navigation",
        "nav",
        "navbar",
        "related",
        "sphinxsidebar",
        "breadcrumb",
        "breadcrumbs",
        "menu-bar",
        "pager",
        "pagination",
        "toc",
        "footer",
        "skip-link",
        "cookie-banner",
    ]
)

# Page furniture: what a page shows around its content, one row per rule.
# (name, why, test). The counts each rule removed on 203 pages of four manuals are in benchmarks/formats.md.
FURNITURE: tuple[tuple[str, str, Callable[..., bool]], ...] = (
    (
        "nav, footer",
        "HTML5 marks navigation and page footers itself (not <aside>: Sphinx writes footnotes as <aside>)",
        lambda el, tag: tag in ("nav", "footer"),
    ),
    (
        "site header",
        "a <header> outside <main> and <article> is the site's banner, not the page's",
        lambda el, tag: tag == "header" and not el.xpath("ancestor::main|ancestor::article"),
    ),
    (
        "ARIA landmark",
        "role=navigation|banner|contentinfo|search|complementary|menu|toolbar marks the same",
        lambda el, tag: (
            (el.get("role") or "").lower()
            in ("navigation", "banner", "contentinfo", "search", "complementary", "menu", "menubar", "toolbar")
        ),
    ),
    ("hidden", "hidden, aria-hidden=true or display:none: a reader never sees it", lambda el, tag: _hidden(el)),
    (
        "navigation class",
        "class or id names a generator's navigation: Texinfo's header/nav-panel "
        "('Next: ..., Previous: ..., Up: ...'), DocBook's navheader/navfooter, Sphinx's related/sphinxsidebar, "
        "breadcrumbs, menus, pagers, a page's table of contents",
        lambda el, tag: (
            tag in ("div", "p", "table", "ul", "ol", "section", "span", "dl") and bool(_classes(el) & _NAV_CLASSES)
        ),
    ),
    (
        "heading anchor",
        "the '¶' link Sphinx and Texinfo put after each heading",
        lambda el, tag: tag == "a" and bool(_classes(el) & {"headerlink", "copiable-anchor", "anchor-link"}),
    ),
    (
        "links only",
        "a paragraph, list or table of nothing but links and 'Next'/'Up' labels is a menu",
        lambda el, tag: tag in ("p", "div", "ul", "ol", "table", "dl", "center") and _links_only(el),
    ),
)


def parse(html: str | bytes):  # type: ignore[no-untyped-def]
    import lxml.html

    if isinstance(html, str):
        html = re.sub(r"^\s*<\?xml[^>]*\?>", "", html)  # lxml refuses a str that declares its encoding
    return lxml.html.document_fromstring(html)


def _main(root):  # type: ignore[no-untyped-def]
    """The page's main content when it marks it (<main>, role=main, one <article>); else the whole body."""
    body = root.find("body")
    body = body if body is not None else root
    for xp in ("//main", "//*[@role='main']", "//article"):
        found = root.xpath(xp)
        if len(found) == 1 and len(collapse(found[0].text_content())) >= 0.2 * len(collapse(body.text_content())):
            return found[0]
    return body


class _Renderer:
    def __init__(self, out: TextWriter, heading_offset: int = 0) -> None:
        self.out = out
        self.offset = heading_offset
        self.buf: list[str] = []
        self.marker: str | None = None

    def flush(self) -> None:
        text = "".join(self.buf).replace("\u2028", "\n")
        self.buf = []
        text = "\n".join(collapse(line) for line in text.split("\x00"))  # \x00: a <br>
        if text.strip():
            if self.marker is not None:
                self.out.item(text.replace("\n", " "), self.marker)
            else:
                self.out.para(text)
        if text.strip() or self.marker is None:
            self.marker = None

    def tail(self, el) -> None:  # type: ignore[no-untyped-def]
        if el.tail:
            self.buf.append(el.tail)

    def walk(self, el) -> None:  # type: ignore[no-untyped-def]
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if not tag or tag in _INVISIBLE or any(test(el, tag) for _, _, test in FURNITURE):
            self.tail(el)
            return
        if tag in _HEADINGS:
            self.flush()
            self.out.heading(_HEADINGS[tag] + self.offset, _inline(el))
        elif tag == "pre":
            self.flush()
            self.out.code(el.text_content())
        elif tag == "br":
            self.buf.append("\x00")
        elif tag in ("ul", "ol", "menu", "dir"):
            self.flush()
            for child in el:
                if isinstance(child.tag, str) and child.tag.lower() == "li":
                    self.flush()
                    # "- " for numbered items too: chunk.py would split "5. A program ..." after "5."
                    self.marker = "-"
                    self.children(child)
                    self.flush()
                    self.marker = None
                else:
                    self.walk(child)
            self.flush()
        elif tag == "table" and _is_data_table(el):
            self.flush()
            for tr in el.xpath("./tr|./*/tr"):
                self.out.row([_inline(cell) for cell in tr if isinstance(cell.tag, str) and cell.tag in ("td", "th")])
        elif tag in _BLOCKS:
            self.flush()
            self.children(el)
            self.flush()
        else:  # inline: its text flows into the paragraph around it
            self.children(el)
        self.tail(el)

    def children(self, el) -> None:  # type: ignore[no-untyped-def]
        if el.text:
            self.buf.append(el.text)
        for child in el:
            self.walk(child)


def _inline(el) -> str:  # type: ignore[no-untyped-def]
    """The text of a heading or table cell, without the furniture inside it (a '¶' anchor)."""
    out = TextWriter()
    r = _Renderer(out)
    r.children(el)
    r.flush()
    return " ".join(out.text().split())


def _is_data_table(el) -> bool:  # type: ignore[no-untyped-def]
    """A table of short cells; a layout table holds paragraphs, code or other tables and is read as blocks."""
    return not el.xpath(
        ".//td//*[self::p or self::div or self::pre or self::table or self::ul or self::ol or "
        "self::dl or self::h1 or self::h2 or self::h3 or self::h4 or self::blockquote]"
    )


def render(root, out: TextWriter, *, main_only: bool = True, heading_offset: int = 0) -> None:  # type: ignore[no-untyped-def]
    """Append what the page shows to `out`."""
    r = _Renderer(out, heading_offset)
    r.walk(_main(root) if main_only else (root.find("body") if root.find("body") is not None else root))
    r.flush()


def page_title(root, html: str) -> str | None:  # type: ignore[no-untyped-def]
    """The page's own name: trafilatura takes a lone <h1>, which on a generated site is often the site's name
    in a menu bar; a <title> of "Page - Site" then names the page ("References and Borrowing")."""
    import trafilatura

    meta = trafilatura.extract_metadata(root)
    found = meta.title if meta is not None else None
    m = re.search(r"<title[^>]*>(.*?)</title>", html, re.IGNORECASE | re.DOTALL)
    if not found or not m:
        return found
    parts = [" ".join(p.split()) for p in re.split(r"\s+[-|–—·:]\s+", entities.unescape(m.group(1)).strip())]
    rest = [p for p in parts if p and p.casefold() != found.casefold()]
    return " - ".join(rest) if len(parts) > 1 and len(rest) < len(parts) and rest else found


def html_text(html: str) -> tuple[str, str | None]:
    """(stored text, page title) of an HTML page."""
    import copy

    root = parse(html)
    title = page_title(copy.deepcopy(root), html)
    out = TextWriter()
    render(root, out)
    text = out.text()
    if title and text and not out.starts_with_heading():
        text = f"# {title}\n\n{text}"
    return text, title
