"""CDS Hooks JWT verification (CDS Hooks 2.0, "Trusting CDS Clients").

`JwtVerifier.verify(authorization_header, audience)` returns the claims of a valid bearer token
and raises `Unauthorized` otherwise. The message is for logs only: it never holds the token nor
any value read from it (header values and claims are attacker-controlled until verified).

What is checked, in order (all on the raw compact serialisation, before any key is fetched when
possible):

1. `Authorization: Bearer <token>` (scheme case-insensitive); the token at most
   `max_token_bytes` long (else 401 without decoding), three base64url segments made only of
   the base64url alphabet (no padding, no `+` `/`, no whitespace), each JSON object parsed with
   duplicate member names rejected (an ambiguity PyJWT would resolve silently).
2. Header: `alg` one of ES256/384/512, RS256/384/512, PS256/384/512 (`none` and HMAC never);
   `typ`, if present, `JWT` (case-insensitive); `kid`, if present, a short string; no `crit`
   nor `b64` (no JWS extension is understood, RFC 7515 4.1.11); `jku`, if present, must equal
   the issuer's configured `jku` -- a token's jku is never fetched.
3. Claims `iss`, `aud`, `exp`, `iat`, `jti` required (`sub`, `nbf`, `tenant` and any other claim
   accepted). `iss` must be one of `[[auth.issuers]]`, exactly.
4. Key: from the issuer's pinned `jwks_file` (loaded once, at construction) or its configured
   `jku` (fetched with `jwks_timeout_seconds`, body at most 1 MB, no redirects, HTTPS only,
   cached `jwks_cache_seconds`, refetched on an unknown `kid` at most once per
   `jwks_min_refresh_seconds`; failed fetches are rate-limited the same way). The jku host is
   resolved and every address must be globally routable: private, loopback, link-local,
   reserved, multicast, shared (CGNAT) addresses and IPv6 forms embedding them are refused.
   `kid` decision: required whenever the issuer's key set holds more than one usable key; a
   token without `kid` is accepted only against a set of exactly one usable key (the spec
   requires `kid`, but a single pinned key leaves no ambiguity). The key must fit the alg:
   EC with the matching curve for ESxxx, RSA of at least 2048 bits for RSxxx/PSxxx; a JWK's own
   `alg`, `use` and `key_ops`, when present, must allow this use. Symmetric (`oct`) and private
   JWKs are ignored.
5. Signature, then times with the configured leeway (at most 60 s): `exp` not past, `iat` and
   `nbf` not in the future, `exp` after `iat`, and the lifetime `exp - iat` at most
   `max_token_lifetime_seconds` (default 300, no leeway: both are the issuer's clock; decision 0121).
   Then `aud` must equal `audience` (the exact URL called; a JSON array is accepted if it contains it).
6. Last, `jti` (a non-empty string) must not have been seen for this issuer within the token's
   lifetime (`exp` + leeway): the replay store records it atomically. A store that cannot answer
   (Redis or the database down) means 503 with Retry-After: fail closed (decision 0127).

Known limitation: the address check resolves the jku host and requests then resolves it again,
so DNS rebinding between the two is not prevented. Only operator-configured jku URLs are ever
fetched, so this only matters if an issuer's own DNS is hostile.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import socket
import threading
import time
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
from cds_service.errors import ConfigError, ServiceUnavailable, Unauthorized
from cds_service.http import metrics, strict_json
from cds_service.http.auth.replay import ReplayStore, ReplayStoreUnavailable

__all__ = ["ALLOWED_ALGORITHMS", "JwtVerifier", "MAX_JWKS_BYTES", "public_addresses_only"]

MAX_JWKS_BYTES = 1024 * 1024
MAX_KID_LENGTH = 256
MAX_JTI_LENGTH = 512
MIN_RSA_BITS = 2048

_CURVES = {"ES256": ("P-256", ec.SECP256R1), "ES384": ("P-384", ec.SECP384R1), "ES512": ("P-521", ec.SECP521R1)}
_ALGORITHMS: dict[str, Any] = {
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
ALLOWED_ALGORITHMS = frozenset(_ALGORITHMS)

_SEGMENT = re.compile(rb"[A-Za-z0-9_-]+")
_REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
_PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

Resolver = Callable[[str, int], Iterable[str]]


class _Reject(Exception):
    """Internal: any reason to answer 401. The text is safe to log (no token, no token values)."""


# ---------------------------------------------------------------------------------------------
# Parsing


def _strict_json(data: bytes, what: str) -> Any:
    """RFC 8259 JSON as strict_json reads every outside document (duplicate names, NaN, huge numbers
    refused), in UTF-8 only (RFC 7515)."""
    try:
        return strict_json.loads(data.decode("utf-8"))
    except strict_json.Refused as refused:
        raise _Reject(f"{what}: {refused}") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _Reject(f"{what} is not valid JSON") from None


def _b64url(segment: bytes, what: str) -> bytes:
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise _Reject(f"{what} is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise _Reject(f"{what} is not base64url") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN


# ---------------------------------------------------------------------------------------------
# Addresses


def _default_resolver(host: str, port: int) -> list[str]:
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


def public_addresses_only(host: str, port: int, resolver: Resolver = _default_resolver) -> list[str]:
    """Resolve `host`; raise `_Reject` unless it resolves, and only to globally routable addresses."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        addresses = [str(literal)]
    except ValueError:
        try:
            addresses = list(resolver(host, port))
        except (OSError, UnicodeError):
            raise _Reject("jku host does not resolve") from None
    if not addresses:
        raise _Reject("jku host does not resolve")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise _Reject("jku host resolved to an unparseable address") from None
        if not _public(address):
            raise _Reject("jku host resolves to a non-public address")
    return addresses


# ---------------------------------------------------------------------------------------------
# Keys


@dataclass(frozen=True)
class _Key:
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


def _parse_jwk(jwk: Any) -> _Key | None:
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
    return _Key(kid=kid, kty=kty, key=key, alg=alg, curve=jwk.get("crv") if kty == "EC" else None)


def _parse_jwks(document: Any) -> tuple[_Key, ...]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _Reject("JWKS is not a {keys: [...]} object")
    return tuple(key for key in map(_parse_jwk, document["keys"]) if key is not None)


@dataclass
class _CacheEntry:
    keys: tuple[_Key, ...] | None = None
    fetched_at: float = float("-inf")
    last_attempt: float = float("-inf")
    last_failure: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


# ---------------------------------------------------------------------------------------------
# The verifier


class JwtVerifier:
    """Verifies CDS Hooks bearer JWTs against the configured issuers (see the module docstring).

    `allow_private_jku` and `allow_http_jku` exist for tests that serve a JWKS from 127.0.0.1
    over plain HTTP; production code must leave both False. `resolver(host, port)` returns the
    addresses a jku host resolves to (default: `socket.getaddrinfo`).
    """

    def __init__(
        self,
        auth: AuthSettings,
        replay_store: ReplayStore,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        *,
        resolver: Resolver = _default_resolver,
        allow_private_jku: bool = False,
        allow_http_jku: bool = False,
    ) -> None:
        self._auth = auth
        self._replay = replay_store
        self._session = session or requests.Session()
        self._clock = clock
        self._resolver = resolver
        self._allow_private_jku = allow_private_jku
        self._allow_http_jku = allow_http_jku
        self._leeway = max(0, min(int(auth.leeway_seconds), 60))
        self._issuers: dict[str, Issuer] = {issuer.iss: issuer for issuer in auth.issuers}
        self._pinned: dict[str, tuple[_Key, ...]] = {}
        for issuer in auth.issuers:
            if issuer.jwks_file is not None:
                self._pinned[issuer.iss] = self._load_pinned(issuer)
        self._cache: dict[str, _CacheEntry] = {}
        self._cache_lock = threading.Lock()

    @staticmethod
    def _load_pinned(issuer: Issuer) -> tuple[_Key, ...]:
        path = Path(issuer.jwks_file)  # type: ignore[arg-type]
        try:
            keys = _parse_jwks(_strict_json(path.read_bytes(), "JWKS"))
        except (OSError, _Reject) as exc:
            raise ConfigError(f"issuer {issuer.iss}: jwks_file {path} is not a usable JWKS ({exc})") from None
        if not keys:
            raise ConfigError(f"issuer {issuer.iss}: jwks_file {path} holds no usable public signing key")
        return keys

    # -- public -------------------------------------------------------------------------------

    def verify(self, authorization_header: str | None, audience: str) -> dict:
        """The verified claims of the bearer token; `Unauthorized` on any failure, `ServiceUnavailable`
        when the replay store cannot tell whether the token was seen."""
        try:
            return self._verify(authorization_header, audience)
        except _Reject as exc:
            raise Unauthorized(f"JWT rejected: {exc}") from None
        except ReplayStoreUnavailable as exc:
            # Fail closed, but say it is ours: the token may be fine, the caller may retry (decision 0127).
            raise ServiceUnavailable(f"JWT not checked: replay store unavailable ({exc})") from None
        except Exception as exc:  # noqa: BLE001 -- any surprise is a 401, never a 500 nor a pass
            raise Unauthorized(f"JWT rejected: unexpected {type(exc).__name__}") from None

    # -- steps --------------------------------------------------------------------------------

    def _verify(self, authorization_header: str | None, audience: str) -> dict:
        token = self._bearer(authorization_header)
        header_b64, payload_b64, signature_b64 = self._segments(token)
        header = _strict_json(_b64url(header_b64, "header"), "header")
        if not isinstance(header, dict):
            raise _Reject("header is not a JSON object")
        alg = self._check_header(header)
        claims = _strict_json(_b64url(payload_b64, "payload"), "payload")
        if not isinstance(claims, dict):
            raise _Reject("payload is not a JSON object")
        for name in _REQUIRED_CLAIMS:
            if name not in claims:
                raise _Reject(f"claim {name} missing")
        iss = claims["iss"]
        if not isinstance(iss, str) or iss not in self._issuers:
            raise _Reject("iss not configured")
        issuer = self._issuers[iss]
        self._check_jku(header, issuer)
        signature = _b64url(signature_b64, "signature")
        key = self._key_for(issuer, header.get("kid"), alg)
        if not _ALGORITHMS[alg].verify(header_b64 + b"." + payload_b64, key.key, signature):
            raise _Reject("bad signature")
        expires_at = self._check_times(claims)
        self._check_audience(claims["aud"], audience)
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise _Reject("jti is not a non-empty string")
        if self._seen_before(jti, iss, expires_at):
            raise _Reject("jti replayed")
        return claims

    def _seen_before(self, jti: str, iss: str, expires_at: float) -> bool:
        try:
            return self._replay.seen_before(jti, iss, expires_at)
        except ReplayStoreUnavailable:
            metrics.instruments().replay_store_errors.labels(type(self._replay).__name__).inc()
            raise

    def _bearer(self, authorization_header: str | None) -> bytes:
        if not authorization_header or not isinstance(authorization_header, str):
            raise _Reject("no Authorization header")
        if len(authorization_header) > self._auth.max_token_bytes + 64:
            raise _Reject("token too large")
        scheme, _, token = authorization_header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise _Reject("not a Bearer token")
        token = token.strip()
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise _Reject("token is not ASCII") from None
        if len(raw) > self._auth.max_token_bytes:
            raise _Reject("token too large")
        return raw

    @staticmethod
    def _segments(token: bytes) -> tuple[bytes, bytes, bytes]:
        parts = token.split(b".")
        if len(parts) != 3:
            raise _Reject("token is not a three-part JWS")
        for part in parts:
            if not _SEGMENT.fullmatch(part):
                raise _Reject("token segment is not base64url")
        return parts[0], parts[1], parts[2]

    @staticmethod
    def _check_header(header: dict[str, Any]) -> str:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise _Reject("alg not allowed")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise _Reject("typ is not JWT")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH):
            raise _Reject("kid is not a short string")
        if "crit" in header or "b64" in header:
            raise _Reject("JWS extensions are not supported")
        for name in ("jku", "jwk", "x5u", "x5c"):
            if name in header and not isinstance(header[name], (str, list, dict)):
                raise _Reject(f"{name} malformed")
        return alg

    @staticmethod
    def _check_jku(header: dict[str, Any], issuer: Issuer) -> None:
        """A token's jku is honoured only when it equals the configured one; it is never fetched.

        For an issuer with a pinned jwks_file the token's jku is ignored (keys come only from the
        file): this lets an operator pin, say, the sandbox's keys when its jku is unreachable.
        Embedded keys (`jwk`, `x5c`) and `x5u` are never used.
        """
        jku = header.get("jku")
        if jku is None or issuer.jku is None:
            return
        if not isinstance(jku, str) or jku.rstrip("/") != issuer.jku.rstrip("/"):
            raise _Reject("jku differs from the configured one")

    def _check_times(self, claims: dict[str, Any]) -> float:
        now, leeway = self._clock(), self._leeway
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
        if not _is_number(exp) or not _is_number(iat) or (nbf is not None and not _is_number(nbf)):
            raise _Reject("exp, iat or nbf is not a number")
        if exp <= now - leeway:
            raise _Reject("token expired")
        if iat > now + leeway:
            raise _Reject("iat in the future")
        if nbf is not None and nbf > now + leeway:
            raise _Reject("token not yet valid (nbf)")
        if exp <= iat:
            raise _Reject("exp not after iat")
        if exp - iat > self._auth.max_token_lifetime_seconds:
            raise _Reject("lifetime (exp - iat) longer than max_token_lifetime_seconds")
        return float(exp) + leeway

    @staticmethod
    def _check_audience(aud: Any, audience: str) -> None:
        if isinstance(aud, str):
            ok = aud == audience
        elif isinstance(aud, list):
            ok = all(isinstance(item, str) for item in aud) and audience in aud
        else:
            ok = False
        if not ok or not audience:
            raise _Reject("aud is not the URL called")

    # -- keys ---------------------------------------------------------------------------------

    def _key_for(self, issuer: Issuer, kid: str | None, alg: str) -> _Key:
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
                    raise _Reject("issuer keys unavailable (recent fetch failure)")
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
            raise _Reject("issuer keys unavailable")
        return self._select(keys, kid, alg)

    def _entry(self, url: str) -> _CacheEntry:
        with self._cache_lock:
            return self._cache.setdefault(url, _CacheEntry())

    def _refresh(self, entry: _CacheEntry, url: str, now: float) -> None:
        """Fetch `url` into `entry`; on failure keep whatever unexpired keys were cached."""
        entry.last_attempt = now
        try:
            keys = self._fetch(url)
        except _Reject:
            entry.last_failure = now
            raise
        entry.keys, entry.fetched_at = keys, now

    def _fetch(self, url: str) -> tuple[_Key, ...]:
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and self._allow_http_jku):
            raise _Reject("jku is not https")
        if not parts.hostname:
            raise _Reject("jku has no host")
        if not self._allow_private_jku:
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                raise _Reject("jku port invalid") from None
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
                    raise _Reject(f"JWKS fetch answered {response.status_code}")
                declared = response.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > MAX_JWKS_BYTES:
                    raise _Reject("JWKS too large")
                body = bytearray()
                for chunk in response.iter_content(chunk_size=65536):
                    body.extend(chunk)
                    if len(body) > MAX_JWKS_BYTES:
                        raise _Reject("JWKS too large")
        except requests.RequestException as exc:
            raise _Reject(f"JWKS fetch failed: {type(exc).__name__}") from None
        return _parse_jwks(_strict_json(bytes(body), "JWKS"))

    @staticmethod
    def _select(keys: tuple[_Key, ...], kid: str | None, alg: str) -> _Key:
        if kid is None:
            if len(keys) != 1:
                raise _Reject("kid missing and the issuer has several keys")
            candidates = list(keys)
        else:
            candidates = [key for key in keys if key.kid == kid]
            if not candidates:
                raise _Reject("unknown kid")
        for key in candidates:
            if key.fits(alg):
                return key
        raise _Reject("key does not fit alg")
