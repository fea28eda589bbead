"""The FHIR allowlist's notion of a URL: one canonical spelling, compared on whole path segments.

A prefix test on the raw text is not enough (issue #13): `<allowed base>/../admin` starts with the
allowed base, but the HTTP client (urllib3) removes the dot segments before sending, and many servers
decode `%2e%2e` (or treat `..;` or a backslash as a separator) and resolve it themselves. So every URL
the client is about to call is first put in canonical form (decision 0120):

- scheme and host lower case, a trailing dot of the host dropped, the scheme's default port dropped;
- percent-encoded unreserved characters decoded (`%2e` is `.`, `%7E` is `~`), other escapes upper case;
- empty segments (duplicate slashes, a trailing slash) dropped, `.` and `..` resolved;

and the canonical form is what is compared with the allowed bases and what is sent. A URL with no
single meaning across servers is refused rather than guessed at: userinfo, a non-http(s) scheme, a
host that is not a plain name or IP address, a backslash, a control or non-ASCII character, a `..`
above the root, and a path segment that still holds `/`, `\\`, `%` or `;` once decoded (an encoded
separator, a double encoding, a path parameter).
"""
from __future__ import annotations

import ipaddress
import re
import string
from urllib.parse import unquote, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_LABEL = r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"  # `_` is not DNS, but container and compose service names use it
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_AMBIGUOUS_IN_SEGMENT = frozenset("/\\%;")


class Unnormalisable(ValueError):
    """The URL has no single canonical form; the message says why (no URL in it: it may hold a token)."""


def canonical_url(url: str) -> str:
    """`url` in canonical form (see the module docstring); raises Unnormalisable."""
    if not url.isascii() or any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise Unnormalisable("the URL holds a space, a control or a non-ASCII character")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Unnormalisable("the URL cannot be parsed (host or port)") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise Unnormalisable("the URL is not http(s)")
    if "\\" in url.split("?", 1)[0]:
        raise Unnormalisable("the URL holds a backslash")
    if "@" in parts.netloc or "%" in parts.netloc:
        raise Unnormalisable("the URL holds userinfo or an encoded host")
    host = _host(parts.hostname or "")
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{_path(parts.path)}{query}"


def _host(hostname: str) -> str:
    name = hostname.removesuffix(".")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        if not _HOST_NAME.fullmatch(name):
            raise Unnormalisable("the URL's host is not a plain host name or IP address") from None
        return name
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def _segment(raw: str) -> str:
    """One path segment with unreserved escapes decoded and the others in upper case."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    segment = _ESCAPE.sub(fix, raw)
    if _AMBIGUOUS_IN_SEGMENT & set(unquote(segment)):
        raise Unnormalisable("a path segment holds an encoded separator, a double encoding or a ';'")
    return segment


def _path(raw: str) -> str:
    kept: list[str] = []
    for segment in map(_segment, raw.split("/")):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not kept:
                raise Unnormalisable("the path climbs above the server's root")
            kept.pop()
            continue
        kept.append(segment)
    return "".join("/" + segment for segment in kept)


def is_under(url: str, base: str) -> bool:
    """True when `url` is `base` or below it on a whole path segment, both in canonical form."""
    try:
        target, allowed = urlsplit(canonical_url(url)), urlsplit(canonical_url(base))
    except Unnormalisable:
        return False
    if (target.scheme, target.netloc) != (allowed.scheme, allowed.netloc) or allowed.query:
        return False
    return target.path == allowed.path or target.path.startswith(allowed.path + "/")


def base_url_problem(url: str, option: str = "--fhir-server") -> str | None:
    """Why a base URL given on a command line cannot be used (None: it can): not http(s), or
    credentials in it (they belong in --token, never in a URL that is printed and logged)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return f"{option} must be an http(s) URL, got {url!r}"
    if parts.username or parts.password:
        return f"put credentials in --token, not in the {option} URL"
    return None

