"""Model output as safe HTML: markdown-it-py with raw HTML off, Pygments for fenced code, nh3 last.

Django-free. The sanitizer runs on the final HTML, so a bug or a feature added to the
parser (or the highlighter) cannot let markup from the model through.
"""

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

_FORMATTER = HtmlFormatter(nowrap=True)

TAGS = {
    "p", "br", "hr", "em", "strong", "s", "del", "code", "pre", "span", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "a",
    "table", "thead", "tbody", "tr", "th", "td",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "span": {"class"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}
URL_SCHEMES = {"http", "https", "mailto"}


def _highlight(code: str, lang: str, _attrs) -> str:
    """Pygments spans for a fenced block in a known language; "" lets markdown-it escape it."""
    try:
        lexer = get_lexer_by_name(lang.strip()) if lang.strip() else None
    except ClassNotFound:
        lexer = None
    return highlight(code, lexer, _FORMATTER) if lexer else ""


# html=False: raw HTML in the source is shown as text, never parsed as markup.
_PARSER = MarkdownIt("commonmark", {"html": False, "highlight": _highlight}).enable(["table", "strikethrough"])


def render(source: str) -> str:
    """Markdown → sanitized HTML: no script, no event handler, no javascript:/data: URL, no image."""
    if not source:
        return ""
    return nh3.clean(
        _PARSER.render(source),
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )
