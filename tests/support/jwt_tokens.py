"""Mint real signed JWTs and JWKS for tests, and serve a JWKS from a local HTTP server.

    key = make_es384_key()
    jwks = jwks_for(key, "kid-1")                      # {"keys": [public JWK]}
    token = sandbox_token(key, "kid-1", aud=url)       # the public CDS Hooks sandbox's exact shape
    with serve_jwks(jwks) as server:                    # http://127.0.0.1:<port>/jwks.json
        verifier = JwtVerifier(auth, store, allow_private_jku=True, allow_http_jku=True)

`raw_token(header, claims, signature)` builds arbitrary (including malformed) tokens for attacks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
DROP = object()  # pass as a header value to `mint` to remove that header member


def make_es256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_es384_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def make_es512_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP521R1())


def make_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_jwk(key: PrivateKey, kid: str | None, alg: str | None = None, **extra: Any) -> dict[str, Any]:
    """The public JWK of `key` (never the private members), with `kid`, optional `alg`, `use`=sig."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk["use"] = "sig"
    if kid is not None:
        jwk["kid"] = kid
    if alg is not None:
        jwk["alg"] = alg
    jwk.update(extra)
    return jwk


def jwks_for(key: PrivateKey, kid: str | None, alg: str | None = None) -> dict[str, Any]:
    return {"keys": [public_jwk(key, kid, alg)]}


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def mint(
    key: PrivateKey,
    kid: str | None,
    alg: str,
    claims: Mapping[str, Any],
    headers: Mapping[str, Any] | None = None,
) -> str:
    """A JWS signed by `key`. Header: typ=JWT, alg, kid (if not None), then `headers` (DROP removes)."""
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    for name, value in (headers or {}).items():
        if value is DROP:
            header.pop(name, None)
        else:
            header[name] = value
    signing_input = _b64(_json(header)) + "." + _b64(_json(dict(claims)))
    algorithm = jwt.get_algorithm_by_name(alg)
    signature = algorithm.sign(signing_input.encode("ascii"), key)
    return signing_input + "." + _b64(signature)


def claims_for(
    iss: str, aud: str, *, now: float | None = None, lifetime: int = 300, jti: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The five claims CDS Hooks requires, plus `extra`."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "exp": issued + lifetime,
        "iat": issued,
        "jti": jti or str(uuid.uuid4()),
    }
    claims.update(extra)
    return claims


def sandbox_token(
    key: ec.EllipticCurvePrivateKey,
    kid: str,
    aud: str,
    *,
    now: float | None = None,
    jti: str | None = None,
    iss: str = SANDBOX_ISSUER,
    jku: str = SANDBOX_JKU,
) -> str:
    """The public CDS Hooks sandbox's token (fixtures/cds-hooks-sandbox/jwt-shape.json): ES384,
    header {alg, typ: JWT, kid, jku}, claims {iss, aud, exp: now+300, iat: now, jti: uuid4}."""
    return mint(key, kid, "ES384", claims_for(iss, aud, now=now, jti=jti), headers={"jku": jku})


def raw_token(header: Any, claims: Any, signature: bytes = b"") -> str:
    """An arbitrary compact JWS: JSON-encodes header and claims unless they are already bytes."""
    head = header if isinstance(header, bytes) else _json(header)
    body = claims if isinstance(claims, bytes) else _json(claims)
    return _b64(head) + "." + _b64(body) + "." + _b64(signature)


def hmac_forgery(secret: bytes, kid: str | None, claims: Mapping[str, Any], alg: str = "HS256") -> str:
    """An HMAC token keyed with `secret` (e.g. the issuer's public PEM: the key-confusion attack)."""
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = _b64(_json(header)) + "." + _b64(_json(dict(claims)))
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return signing_input + "." + _b64(hmac.new(secret, signing_input.encode("ascii"), digest).digest())


def bearer(token: str) -> str:
    return f"Bearer {token}"


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# ---------------------------------------------------------------------------------------------
# A JWKS over HTTP on 127.0.0.1


@dataclass
class JwksServer:
    """A running JWKS server. Change `jwks`, `status`, `body`, `delay` or `location` at any time."""

    url: str
    jwks: dict[str, Any]
    status: int = 200
    body: bytes | None = None  # served instead of the JSON of `jwks` when set
    delay: float = 0.0
    location: str | None = None  # sent as Location (use with status 302)
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_hit(self) -> None:
        with self._lock:
            self.hits += 1


@contextmanager
def serve_jwks(jwks: dict[str, Any], path: str = "/jwks.json") -> Iterator[JwksServer]:
    state = JwksServer(url="", jwks=jwks)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
            state.record_hit()
            if state.delay:
                time.sleep(state.delay)
            if self.path != path:
                self.send_error(404)
                return
            body = state.body if state.body is not None else _json(state.jwks)
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            if state.location:
                self.send_header("Location", state.location)
            if state.send_length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="jwks-server", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
