"""How the page serves debug sample files, and what an html sample needs from elsewhere.

An html sample (a bokeh plot saved with ``bokeh.io.save``, plotly's ``fig.write_html``) runs its own
inline scripts in the page's frame. That is safe because the sample always gets an opaque origin
(``sandbox allow-scripts`` without ``allow-same-origin``, in its response header and in the frame):

* it cannot read the page's session cookie (``document.cookie`` throws in an opaque origin, and
  the cookie is HttpOnly anyway), nor the page's token (the page's window is another origin);
* it cannot call the page's API: ``connect-src 'none'`` stops fetch and XHR; an image or a
  navigation it starts is a cross-site request, so the SameSite=Strict cookie is not sent
  and the server refuses it by its ``Sec-Fetch-Site``;
* forms, popups and top-level navigation are not in its sandbox, and its ``script-src`` names no
  host, so nothing is fetched from the internet: a sample that needs remote scripts (a CDN) is
  shown without them, with a note (see :func:`outside_refs`).
"""
from __future__ import annotations

import functools
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

#: images, media and svg samples: a sandbox that runs no script at all.
STATIC_SAMPLE_CSP = ("sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                     "media-src 'self'")
#: html samples: their own inline scripts run, in an opaque origin that reaches nothing (see above).
# 'unsafe-eval': bokeh and plotly build functions from text; no more than inline code can do anyway.
HTML_SAMPLE_CSP = ("sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
                   "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; media-src data: blob:; "
                   "connect-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'")


def sample_csp(mime: str) -> str:
    """The Content-Security-Policy a sample file of type ``mime`` is served with."""
    return HTML_SAMPLE_CSP if mime == "text/html" else STATIC_SAMPLE_CSP


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(values["src"])
        elif tag == "link" and values.get("href") and "stylesheet" in (values.get("rel") or "").lower().split():
            self.urls.append(values["href"])


def outside_refs(path: Path) -> dict[str, list[str]]:
    """The scripts and style sheets an html sample loads from elsewhere: ``{"hosts": [internet
    hosts], "files": [files beside it]}`` (the page fetches neither); empty lists when it is
    self-contained or unreadable."""
    try:
        stat = path.stat()
    except OSError:
        return {"hosts": [], "files": []}
    return _outside_refs(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _outside_refs(path: str, size: int, mtime_ns: int) -> dict[str, list[str]]:
    parser = _Refs()
    try:
        parser.feed(Path(path).read_text("utf-8", "replace"))
        parser.close()
    except OSError:
        return {"hosts": [], "files": []}
    hosts, files = [], []
    for url in parser.urls:
        parts = urlsplit(url.strip())
        if parts.scheme in ("data", "blob"):
            continue
        if parts.netloc:
            hosts.append(parts.hostname or parts.netloc)
        elif parts.path:
            files.append(parts.path)
    return {"hosts": list(dict.fromkeys(hosts)), "files": list(dict.fromkeys(files))}
