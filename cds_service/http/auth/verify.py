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
4. Key: the issuer's key set (`keys.py`: a pinned `jwks_file`, or its configured `jku` fetched
   from public addresses only and cached) must hold the key the token names (`kid`) and it must
   fit the alg.
5. Signature, then times with the configured leeway (at most 60 s): `exp` not past, `iat` and
   `nbf` not in the future, `exp` after `iat`, and the lifetime `exp - iat` at most
   `max_token_lifetime_seconds` (default 300, no leeway: both are the issuer's clock; decision 0121).
   Then `aud` must equal `audience` (the exact URL called; a JSON array is accepted if it contains it).
6. Last, `jti` (a non-empty string) must not have been seen for this issuer within the token's
   lifetime (`exp` + leeway): the replay store records it atomically. A store that cannot answer
   (Redis or the database down) means 503 with Retry-After: fail closed (decision 0127).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable
from typing import Any

import requests

from cds_service.config import AuthSettings, Issuer
from cds_service.errors import ServiceUnavailable, Unauthorized
from cds_service.http import metrics
from cds_service.http.auth.keys import (
    ALLOWED_ALGORITHMS,
    SIGNING_ALGORITHMS,
    KeySets,
    Rejected,
    Resolver,
    json_document,
    resolve_host,
)
from cds_service.http.auth.replay import ReplayStore, ReplayStoreUnavailable

__all__ = ["JwtVerifier"]

MAX_KID_LENGTH = 256
MAX_JTI_LENGTH = 512

_SEGMENT = re.compile(rb"[A-Za-z0-9_-]+")
_REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")


# ---------------------------------------------------------------------------------------------
# Parsing


def _b64url(segment: bytes, what: str) -> bytes:
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise Rejected(f"{what} is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise Rejected(f"{what} is not base64url") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN


# ---------------------------------------------------------------------------------------------
# The verifier


class JwtVerifier:
    """Verifies CDS Hooks bearer JWTs against the configured issuers (see the module docstring).

    `session`, `clock` and the keyword arguments go to the issuers' `KeySets` (keys.py, which says
    what each is for; the two `allow_*` flags are for tests only).
    """

    def __init__(
        self,
        auth: AuthSettings,
        replay_store: ReplayStore,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        *,
        resolver: Resolver = resolve_host,
        allow_private_jku: bool = False,
        allow_http_jku: bool = False,
    ) -> None:
        self._auth = auth
        self._replay = replay_store
        self._clock = clock
        self._leeway = max(0, min(int(auth.leeway_seconds), 60))
        self._issuers: dict[str, Issuer] = {issuer.iss: issuer for issuer in auth.issuers}
        self._keys = KeySets(
            auth,
            session or requests.Session(),
            clock,
            resolver=resolver,
            allow_private_jku=allow_private_jku,
            allow_http_jku=allow_http_jku,
        )

    # -- public -------------------------------------------------------------------------------

    def verify(self, authorization_header: str | None, audience: str) -> dict:
        """The verified claims of the bearer token; `Unauthorized` on any failure, `ServiceUnavailable`
        when the replay store cannot tell whether the token was seen."""
        try:
            return self._verify(authorization_header, audience)
        except Rejected as exc:
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
        header = json_document(_b64url(header_b64, "header"), "header")
        if not isinstance(header, dict):
            raise Rejected("header is not a JSON object")
        alg = self._check_header(header)
        claims = json_document(_b64url(payload_b64, "payload"), "payload")
        if not isinstance(claims, dict):
            raise Rejected("payload is not a JSON object")
        for name in _REQUIRED_CLAIMS:
            if name not in claims:
                raise Rejected(f"claim {name} missing")
        iss = claims["iss"]
        if not isinstance(iss, str) or iss not in self._issuers:
            raise Rejected("iss not configured")
        issuer = self._issuers[iss]
        self._check_jku(header, issuer)
        signature = _b64url(signature_b64, "signature")
        key = self._keys.key_for(issuer, header.get("kid"), alg)
        if not SIGNING_ALGORITHMS[alg].verify(header_b64 + b"." + payload_b64, key.key, signature):
            raise Rejected("bad signature")
        expires_at = self._check_times(claims)
        self._check_audience(claims["aud"], audience)
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise Rejected("jti is not a non-empty string")
        if self._seen_before(jti, iss, expires_at):
            raise Rejected("jti replayed")
        return claims

    def _seen_before(self, jti: str, iss: str, expires_at: float) -> bool:
        try:
            return self._replay.seen_before(jti, iss, expires_at)
        except ReplayStoreUnavailable:
            metrics.instruments().replay_store_errors.labels(type(self._replay).__name__).inc()
            raise

    def _bearer(self, authorization_header: str | None) -> bytes:
        if not authorization_header or not isinstance(authorization_header, str):
            raise Rejected("no Authorization header")
        if len(authorization_header) > self._auth.max_token_bytes + 64:
            raise Rejected("token too large")
        scheme, _, token = authorization_header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Rejected("not a Bearer token")
        token = token.strip()
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise Rejected("token is not ASCII") from None
        if len(raw) > self._auth.max_token_bytes:
            raise Rejected("token too large")
        return raw

    @staticmethod
    def _segments(token: bytes) -> tuple[bytes, bytes, bytes]:
        parts = token.split(b".")
        if len(parts) != 3:
            raise Rejected("token is not a three-part JWS")
        for part in parts:
            if not _SEGMENT.fullmatch(part):
                raise Rejected("token segment is not base64url")
        return parts[0], parts[1], parts[2]

    @staticmethod
    def _check_header(header: dict[str, Any]) -> str:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise Rejected("alg not allowed")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise Rejected("typ is not JWT")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH):
            raise Rejected("kid is not a short string")
        if "crit" in header or "b64" in header:
            raise Rejected("JWS extensions are not supported")
        for name in ("jku", "jwk", "x5u", "x5c"):
            if name in header and not isinstance(header[name], (str, list, dict)):
                raise Rejected(f"{name} malformed")
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
            raise Rejected("jku differs from the configured one")

    def _check_times(self, claims: dict[str, Any]) -> float:
        now, leeway = self._clock(), self._leeway
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
        if not _is_number(exp) or not _is_number(iat) or (nbf is not None and not _is_number(nbf)):
            raise Rejected("exp, iat or nbf is not a number")
        if exp <= now - leeway:
            raise Rejected("token expired")
        if iat > now + leeway:
            raise Rejected("iat in the future")
        if nbf is not None and nbf > now + leeway:
            raise Rejected("token not yet valid (nbf)")
        if exp <= iat:
            raise Rejected("exp not after iat")
        if exp - iat > self._auth.max_token_lifetime_seconds:
            raise Rejected("lifetime (exp - iat) longer than max_token_lifetime_seconds")
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
            raise Rejected("aud is not the URL called")

