"""The issuers' public signing keys, for JWT verification (`verify.py`).

`KeySets.key_for(issuer, kid, alg)` returns the key a token names, or raises `Rejected` (a 401).
Keys come from the issuer's pinned `jwks_file` (loaded once, at construction) or its configured
`jku` (fetched with `jwks_timeout_seconds`, body at most 1 MB, no redirects, HTTPS only, cached
`jwks_cache_seconds`, refetched on an unknown `kid` at most once per `jwks_min_refresh_seconds`;
failed fetches are rate-limited the same way). The jku host is resolved and every address must be
globally routable: private, loopback, link-local, reserved, multicast, shared (CGNAT) addresses and
IPv6 forms embedding them are refused. `kid` decision: required whenever the issuer's key set holds
more than one usable key; a token without `kid` is accepted only against a set of exactly one usable
key. The key must fit the alg: EC with the matching curve for ESxxx, RSA of at least 2048 bits for
RSxxx/PSxxx; a JWK's own `alg`, `use` and `key_ops`, when present, must allow this use. Symmetric
(`oct`) and private JWKs are ignored.

Known limitation: the address check resolves the jku host and requests then resolves it again,
so DNS rebinding between the two is not prevented. Only operator-configured jku URLs are ever
fetched, so this only matters if an issuer's own DNS is hostile.
"""

from __future__ import annotations

import binascii
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm, RSAPSSAlgorithm
from jwt.exceptions import InvalidKeyError

from cds_service.config import AuthSettings, Issuer
from cds_service.errors import ConfigError
from cds_service.http import strict_json

__all__ = [
    "ALLOWED_ALGORITHMS", "MAX_JWKS_BYTES", "SIGNING_ALGORITHMS", "KeySets", "Rejected", "Resolver", "SigningKey",
    "json_document", "public_addresses_only", "resolve_host",
]

MAX_JWKS_BYTES = 1024 * 1024
MIN_RSA_BITS = 2048

_CURVES = {"ES256": ("P-256", ec.SECP256R1), "ES384": ("P-384", ec.SECP384R1), "ES512": ("P-521", ec.SECP521R1)}
SIGNING_ALGORITHMS: dict[str, Any] = {
    "ES256": ECAlgorithm(ECAlgorithm.SHA256),
    "ES384": ECAlgorithm(ECAlgorithm.SHA384),
    "ES512": ECAlgorithm(ECAlgorithm.SHA512),
    "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
    "RS384": RSAAlgorithm(RSAAlgorithm.SHA384),
    "RS512": RSAAlgorithm(RSAAlgorithm.SHA512),
    "PS256": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256),
    "PS384": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA384),
    "PS512": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA512),
}
ALLOWED_ALGORITHMS = frozenset(SIGNING_ALGORITHMS)

_PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

Resolver = Callable[[str, int], Iterable[str]]


class Rejected(Exception):
    """Any reason to answer 401. The text is safe to log (no token, no token values)."""


# ---------------------------------------------------------------------------------------------
# Parsing


def json_document(data: bytes, what: str) -> Any:
    """RFC 8259 JSON as strict_json reads every outside document (duplicate names, NaN, huge numbers
    refused), in UTF-8 only (RFC 7515)."""
    try:
        return strict_json.loads(data.decode("utf-8"))
    except strict_json.Refused as refused:
        raise Rejected(f"{what}: {refused}") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Rejected(f"{what} is not valid JSON") from None



# ---------------------------------------------------------------------------------------------
# Addresses


def resolve_host(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour]
        if address.teredo:
            embedded.extend(address.teredo)
        if address in ipaddress.IPv6Network("64:ff9b::/96") or address in ipaddress.IPv6Network("64:ff9b:1::/48"):
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address in ipaddress.IPv6Network("::/96"):  # deprecated IPv4-compatible form
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(inner is not None and not _public(inner) for inner in embedded):
            return False
    return bool(
        address.is_global
        and not address.is_multicast
        and not address.is_private
        and not address.is_loopback
        and not address.is_link_local
        and not address.is_reserved
        and not address.is_unspecified
    )


def public_addresses_only(host: str, port: int, resolver: Resolver = resolve_host) -> list[str]:
    """Resolve `host`; raise `Rejected` unless it resolves, and only to globally routable addresses."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        addresses = [str(literal)]
    except ValueError:
        try:
            addresses = list(resolver(host, port))
        except (OSError, UnicodeError):
            raise Rejected("jku host does not resolve") from None
    if not addresses:
        raise Rejected("jku host does not resolve")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise Rejected("jku host resolved to an unparseable address") from None
        if not _public(address):
            raise Rejected("jku host resolves to a non-public address")
    return addresses


# ---------------------------------------------------------------------------------------------
# Keys


@dataclass(frozen=True, kw_only=True)
class SigningKey:
    kid: str | None
    kty: str
    key: Any  # cryptography public key
    alg: str | None
    curve: str | None  # JWK crv, EC only

    def fits(self, alg: str) -> bool:
        if self.alg is not None and self.alg != alg:
            return False
        if alg.startswith("ES"):
            return (
                self.kty == "EC"
                and self.curve == _CURVES[alg][0]
                and isinstance(self.key, ec.EllipticCurvePublicKey)
                and isinstance(self.key.curve, _CURVES[alg][1])
            )
        return self.kty == "RSA" and isinstance(self.key, rsa.RSAPublicKey) and self.key.key_size >= MIN_RSA_BITS


def _parse_jwk(jwk: Any) -> SigningKey | None:
    """A usable public signing key, or None (skipped silently: a JWKS may hold other keys)."""
    if not isinstance(jwk, dict):
        return None
    kty, kid, alg = jwk.get("kty"), jwk.get("kid"), jwk.get("alg")
    if kty not in {"EC", "RSA"} or _PRIVATE_JWK_MEMBERS & set(jwk):
        return None
    if kid is not None and not isinstance(kid, str):
        return None
    if alg is not None and alg not in ALLOWED_ALGORITHMS:
        return None
    if jwk.get("use") not in (None, "sig"):
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    try:
        key = ECAlgorithm.from_jwk(jwk) if kty == "EC" else RSAAlgorithm.from_jwk(jwk)
    except (InvalidKeyError, ValueError, TypeError, KeyError, binascii.Error):
        return None
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        return None
    return SigningKey(kid=kid, kty=kty, key=key, alg=alg, curve=jwk.get("crv") if kty == "EC" else None)


def _parse_jwks(document: Any) -> tuple[SigningKey, ...]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise Rejected("JWKS is not a {keys: [...]} object")
    return tuple(key for key in map(_parse_jwk, document["keys"]) if key is not None)


@dataclass
class _CacheEntry:
    keys: tuple[SigningKey, ...] | None = None
    fetched_at: float = float("-inf")
    last_attempt: float = float("-inf")
    last_failure: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


# ---------------------------------------------------------------------------------------------
# The key sets


class KeySets:
    """The usable public signing keys of every configured issuer, pinned or fetched and cached.

    `allow_private_jku` and `allow_http_jku` exist for tests that serve a JWKS from 127.0.0.1
    over plain HTTP; production code must leave both False. `resolver(host, port)` returns the
    addresses a jku host resolves to (default: `socket.getaddrinfo`).
    """

    def __init__(
        self,
        auth: AuthSettings,
        session: requests.Session,
        clock: Callable[[], float],
        *,
        resolver: Resolver = resolve_host,
        allow_private_jku: bool = False,
        allow_http_jku: bool = False,
    ) -> None:
        self._auth = auth
        self._session = session
        self._clock = clock
        self._resolver = resolver
        self._allow_private_jku = allow_private_jku
        self._allow_http_jku = allow_http_jku
        self._pinned: dict[str, tuple[SigningKey, ...]] = {}
        for issuer in auth.issuers:
            if issuer.jwks_file is not None:
                self._pinned[issuer.iss] = self._load_pinned(issuer)
        self._cache: dict[str, _CacheEntry] = {}
        self._cache_lock = threading.Lock()

    @staticmethod
    def _load_pinned(issuer: Issuer) -> tuple[SigningKey, ...]:
        path = Path(issuer.jwks_file)  # type: ignore[arg-type]
        try:
            keys = _parse_jwks(json_document(path.read_bytes(), "JWKS"))
        except (OSError, Rejected) as exc:
            raise ConfigError(f"issuer {issuer.iss}: jwks_file {path} is not a usable JWKS ({exc})") from None
        if not keys:
            raise ConfigError(f"issuer {issuer.iss}: jwks_file {path} holds no usable public signing key")
        return keys

    def key_for(self, issuer: Issuer, kid: str | None, alg: str) -> SigningKey:
        """The issuer's key named by `kid` that fits `alg`; `Rejected` when there is none."""
        if issuer.jwks_file is not None:
            return self._select(self._pinned[issuer.iss], kid, alg)
        assert issuer.jku is not None
        entry = self._entry(issuer.jku)
        with entry.lock:
            now = self._clock()
            min_refresh = self._auth.jwks_min_refresh_seconds
            if entry.keys is not None and now - entry.fetched_at >= self._auth.jwks_cache_seconds:
                entry.keys = None  # expired: never verify with keys older than jwks_cache_seconds
            if entry.keys is None:
                # Nothing usable cached: fetch, unless a fetch failed less than min_refresh ago.
                if now - entry.last_failure < min_refresh:
                    raise Rejected("issuer keys unavailable (recent fetch failure)")
                self._refresh(entry, issuer.jku, now)
            elif (
                kid is not None
                and not any(key.kid == kid for key in entry.keys)
                and now - max(entry.last_attempt, entry.last_failure) >= min_refresh
            ):
                # Unknown kid: perhaps the issuer rotated its keys. Refetch, at most once per
                # min_refresh whatever the outcome, so that a flood of made-up kids costs one
                # outbound request a minute.
                self._refresh(entry, issuer.jku, now)
            keys = entry.keys
        if keys is None:
            raise Rejected("issuer keys unavailable")
        return self._select(keys, kid, alg)

    def _entry(self, url: str) -> _CacheEntry:
        with self._cache_lock:
            return self._cache.setdefault(url, _CacheEntry())

    def _refresh(self, entry: _CacheEntry, url: str, now: float) -> None:
        """Fetch `url` into `entry`; on failure keep whatever unexpired keys were cached."""
        entry.last_attempt = now
        try:
            keys = self._fetch(url)
        except Rejected:
            entry.last_failure = now
            raise
        entry.keys, entry.fetched_at = keys, now

    def _fetch(self, url: str) -> tuple[SigningKey, ...]:
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and self._allow_http_jku):
            raise Rejected("jku is not https")
        if not parts.hostname:
            raise Rejected("jku has no host")
        if not self._allow_private_jku:
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                raise Rejected("jku port invalid") from None
            public_addresses_only(parts.hostname, port, self._resolver)
        try:
            with self._session.get(
                url,
                timeout=self._auth.jwks_timeout_seconds,
                allow_redirects=False,
                stream=True,
                headers={"Accept": "application/json, application/jwk-set+json"},
            ) as response:
                if response.status_code != 200:
                    raise Rejected(f"JWKS fetch answered {response.status_code}")
                declared = response.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > MAX_JWKS_BYTES:
                    raise Rejected("JWKS too large")
                body = bytearray()
                for chunk in response.iter_content(chunk_size=65536):
                    body.extend(chunk)
                    if len(body) > MAX_JWKS_BYTES:
                        raise Rejected("JWKS too large")
        except requests.RequestException as exc:
            raise Rejected(f"JWKS fetch failed: {type(exc).__name__}") from None
        return _parse_jwks(json_document(bytes(body), "JWKS"))

    @staticmethod
    def _select(keys: tuple[SigningKey, ...], kid: str | None, alg: str) -> SigningKey:
        if kid is None:
            if len(keys) != 1:
                raise Rejected("kid missing and the issuer has several keys")
            candidates = list(keys)
        else:
            candidates = [key for key in keys if key.kid == kid]
            if not candidates:
                raise Rejected("unknown kid")
        for key in candidates:
            if key.fits(alg):
                return key
        raise Rejected("key does not fit alg")
