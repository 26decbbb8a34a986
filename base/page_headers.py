"""What every page of the station's console and of head office's dashboard carries: the
headers that keep a browser from running, framing or caching what it should not, and the
language the visitor reads it in (Chinese first).

Both are Flask apps in the same stack (SPEC §2, §12); these are the parts that are the
same in both, so that a header tightened in one is tightened in the other.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response, request

LANGS = ("zh", "en")
# The site's own assets only: no CDN, no inline script, images from the site itself.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def chosen_language(cookie: str) -> str:
    """The language a visitor chose (a cookie), else the browser's preference, else zh."""
    chosen = request.cookies.get(cookie)
    if chosen in LANGS:
        return chosen
    return request.accept_languages.best_match(LANGS, default="zh") or "zh"


def secure(response: Response, language: str,
           localised: Iterable[str] = ("text/html",)) -> Response:
    """The response with the site's security headers, and its language for the types in
    `localised`. Pages (not static files) are `no-store`: they show invoices and who is
    logged in, and change by the second."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    if "Content-Language" not in response.headers and response.mimetype in localised:
        response.headers["Content-Language"] = "zh-CN" if language == "zh" else "en"
    return response
