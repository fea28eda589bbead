"""JWT verification (issue #5 items 1-2): three real clients' token shapes accepted, an attack
corpus rejected with Unauthorized (a bare 401), and the JWKS fetching rules.

Real crypto throughout; the jku path is a real HTTP server on 127.0.0.1 (hence the verifier's
test-only allow_private_jku / allow_http_jku flags, switched off where the address rules are
the thing under test).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.config import AuthSettings, Issuer
from cds_service.errors import ServiceUnavailable, Unauthorized
from cds_service.http.auth.keys import ALLOWED_ALGORITHMS, public_addresses_only
from cds_service.http.auth.replay import MemoryReplayStore
from cds_service.http.auth.verify import JwtVerifier
from tests.support.jwt_tokens import (
    DROP,
    SANDBOX_ISSUER,
    SANDBOX_KID,
    JwksServer,
    bearer,
    claims_for,
    hmac_forgery,
    jwks_for,
    make_es256_key,
    make_es384_key,
    make_es512_key,
    make_rsa_key,
    mint,
    public_jwk,
    public_pem,
    raw_token,
    sandbox_token,
    serve_jwks,
)

AUD = "https://cds.example.org/cds-services/sirolimus-dose"
ISS = "https://ehr.example.org"
KID = "issuer-key-1"
T0 = 1_750_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def local_verifier(
    issuers: tuple[Issuer, ...], clock: Clock, store: MemoryReplayStore | None = None, **kwargs: Any
) -> JwtVerifier:
    auth_fields = {k: kwargs.pop(k) for k in list(kwargs) if k in AuthSettings.__dataclass_fields__}
    kwargs.setdefault("allow_private_jku", True)
    kwargs.setdefault("allow_http_jku", True)
    return JwtVerifier(
        AuthSettings(issuers=issuers, **auth_fields),
        store if store is not None else MemoryReplayStore(clock=clock),
        clock=clock,
        **kwargs,
    )


@dataclass
class Env:
    """One issuer (ISS, ES384 key KID) whose JWKS is served on 127.0.0.1, and a verifier for it."""

    key: Any
    server: JwksServer
    clock: Clock
    verifier: JwtVerifier
    extra: dict[str, Any] = field(default_factory=dict)

    def claims(self, **changes: Any) -> dict[str, Any]:
        claims = claims_for(ISS, AUD, now=self.clock.now)
        for name, value in changes.items():
            if value is DROP:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def token(self, headers: dict[str, Any] | None = None, **changes: Any) -> str:
        return mint(self.key, KID, "ES384", self.claims(**changes), {"jku": self.server.url, **(headers or {})})

    def verify(self, token: str | None, audience: str = AUD) -> dict:
        return self.verifier.verify(None if token is None else bearer(token), audience)


@pytest.fixture
def env() -> Any:
    key = make_es384_key()
    clock = Clock()
    with serve_jwks(jwks_for(key, KID)) as server:
        verifier = local_verifier((Issuer(iss=ISS, jku=server.url),), clock)
        yield Env(key=key, server=server, clock=clock, verifier=verifier)


def assert_rejected(call: Callable[[], Any]) -> Unauthorized:
    with pytest.raises(Unauthorized) as info:
        call()
    assert info.value.status == 401
    return info.value


# ---------------------------------------------------------------------------------------------
# Accepted: three real clients' shapes, and the edges of what is allowed


def test_the_baseline_token_of_the_attack_corpus_is_accepted(env: Env) -> None:
    claims = env.verify(env.token())
    assert claims["iss"] == ISS and claims["aud"] == AUD


def test_sandbox_shape_es384_with_jku_and_five_minute_lifetime_is_accepted() -> None:
    key, clock = make_es384_key(), Clock()
    with serve_jwks(jwks_for(key, SANDBOX_KID)) as server:
        verifier = local_verifier((Issuer(iss=SANDBOX_ISSUER, jku=server.url),), clock)
        token = sandbox_token(key, SANDBOX_KID, AUD, now=clock.now, jku=server.url)
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        claims = verifier.verify(bearer(token), AUD)
    # the exact shape of fixtures/cds-hooks-sandbox/jwt-shape.json
    assert list(header) == ["alg", "typ", "kid", "jku"]
    assert header["alg"] == "ES384" and header["typ"] == "JWT"
    assert set(claims) == {"iss", "aud", "exp", "iat", "jti"}
    assert claims["exp"] - claims["iat"] == 300
    assert str(uuid.UUID(claims["jti"])) == claims["jti"]
    assert server.hits == 1


def test_large_ehr_vendor_shape_rs384_with_sub_and_nbf_is_accepted() -> None:
    key, clock = make_rsa_key(2048), Clock()
    with serve_jwks(jwks_for(key, "rsa-kid", alg="RS384")) as server:
        verifier = local_verifier((Issuer(iss=ISS, jku=server.url),), clock)
        claims = claims_for(ISS, AUD, now=clock.now, sub="client-id-123", nbf=int(clock.now), tenant="t-9")
        token = mint(key, "rsa-kid", "RS384", claims, {"jku": server.url})
        assert verifier.verify(bearer(token), AUD) == claims


def test_es256_with_pinned_jwks_and_no_jku_is_accepted(tmp_path: Path) -> None:
    key, clock = make_es256_key(), Clock()
    jwks_file = tmp_path / "ehr-jwks.json"
    jwks_file.write_text(json.dumps(jwks_for(key, "pinned-1")))
    verifier = local_verifier((Issuer(iss=ISS, jwks_file=jwks_file),), clock)
    token = mint(key, "pinned-1", "ES256", claims_for(ISS, AUD, now=clock.now))
    assert verifier.verify(bearer(token), AUD)["iss"] == ISS


def test_pinned_issuer_never_fetches_a_jku_found_in_the_token(tmp_path: Path) -> None:
    key, clock = make_es384_key(), Clock()
    jwks_file = tmp_path / "sandbox-jwks.json"
    jwks_file.write_text(json.dumps(jwks_for(key, SANDBOX_KID)))
    with serve_jwks(jwks_for(make_es384_key(), SANDBOX_KID)) as elsewhere:
        verifier = local_verifier((Issuer(iss=SANDBOX_ISSUER, jwks_file=jwks_file),), clock)
        token = sandbox_token(key, SANDBOX_KID, AUD, now=clock.now, jku=elsewhere.url)
        assert verifier.verify(bearer(token), AUD)["iss"] == SANDBOX_ISSUER
        assert elsewhere.hits == 0


@pytest.mark.parametrize("alg", sorted(ALLOWED_ALGORITHMS))
def test_every_allowed_asymmetric_algorithm_is_accepted_with_a_fitting_key(alg: str) -> None:
    makers = {"ES256": make_es256_key, "ES384": make_es384_key, "ES512": make_es512_key}
    key = makers.get(alg, make_rsa_key)()
    clock = Clock()
    with serve_jwks(jwks_for(key, "k")) as server:
        verifier = local_verifier((Issuer(iss=ISS, jku=server.url),), clock)
        assert verifier.verify(bearer(mint(key, "k", alg, claims_for(ISS, AUD, now=clock.now))), AUD)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"exp": int(T0) - 59, "iat": int(T0) - 300}, id="expired-59s-ago-within-leeway"),
        pytest.param({"iat": int(T0) + 59, "exp": int(T0) + 359}, id="iat-59s-ahead-within-leeway"),
        pytest.param({"nbf": int(T0) + 59}, id="nbf-59s-ahead-within-leeway"),
        pytest.param({"aud": ["https://other.example", AUD]}, id="aud-array-containing-the-url"),
        pytest.param({"tenant": "hospital-7", "sub": "x", "fhirUser": "Practitioner/1"}, id="extra-claims"),
        pytest.param({"exp": T0 + 299.5, "iat": T0 + 0.25}, id="fractional-times"),
    ],
)
def test_tokens_at_the_edges_of_the_rules_are_accepted(env: Env, changes: dict[str, Any]) -> None:
    assert env.verify(env.token(**changes))["jti"]


def test_bearer_scheme_is_case_insensitive(env: Env) -> None:
    assert env.verifier.verify("bearer " + env.token(), AUD)


def test_typ_header_may_be_absent(env: Env) -> None:
    assert env.verify(env.token(headers={"typ": DROP}))


def test_kid_may_be_omitted_only_when_the_issuer_has_a_single_key(env: Env) -> None:
    token = mint(env.key, None, "ES384", env.claims(), {"jku": env.server.url})
    assert env.verify(token)
    env.server.jwks = {"keys": [*env.server.jwks["keys"], public_jwk(make_es384_key(), "second")]}
    env.clock.now += 3600  # cache expired: the two-key set is fetched
    token = mint(env.key, None, "ES384", env.claims(), {"jku": env.server.url})
    assert_rejected(lambda: env.verify(token))
    assert env.verify(env.token())  # with its kid the same key is fine


# ---------------------------------------------------------------------------------------------
# The attack corpus: each case builds (authorization header, audience) from the accepted baseline


def _hs_with_public_key(env: Env, encoding: str) -> tuple[str | None, str]:
    if encoding == "pem":
        secret = public_pem(env.key)
    elif encoding == "der":
        secret = env.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        secret = json.dumps(public_jwk(env.key, KID)).encode()
    return bearer(hmac_forgery(secret, KID, env.claims())), AUD


def _alg_none(env: Env, alg: str, with_signature: bool) -> tuple[str | None, str]:
    valid_signature = env.token().split(".")[2]
    token = raw_token({"alg": alg, "typ": "JWT", "kid": KID}, env.claims())
    if with_signature:
        token = token + valid_signature
    return bearer(token), AUD


def _replayed(env: Env) -> tuple[str | None, str]:
    token = env.token()
    assert env.verify(token)  # first use accepted
    return bearer(token), AUD


def _tampered_payload(env: Env) -> tuple[str | None, str]:
    header, _, signature = env.token(aud="https://evil.example/").split(".")
    payload = base64.urlsafe_b64encode(json.dumps(env.claims()).encode()).rstrip(b"=").decode()
    return bearer(f"{header}.{payload}.{signature}"), AUD


def _foreign_jku(env: Env) -> tuple[str | None, str]:
    attacker = make_es384_key()
    server = env.extra["attacker_server"] = _start_attacker_server(env, jwks_for(attacker, "evil"))
    token = mint(attacker, "evil", "ES384", env.claims(), {"jku": server.url})
    return bearer(token), AUD


def _start_attacker_server(env: Env, jwks: dict[str, Any]) -> JwksServer:
    context = serve_jwks(jwks)
    server = context.__enter__()
    env.extra.setdefault("contexts", []).append(context)
    return server


def _oct_key_in_jwks(env: Env) -> tuple[str | None, str]:
    secret = b"shared-secret-that-the-attacker-guessed"
    oct_jwk = {"kty": "oct", "kid": "sym", "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode()}
    env.server.jwks = {"keys": [*env.server.jwks["keys"], oct_jwk]}
    return bearer(hmac_forgery(secret, "sym", env.claims())), AUD


def _key_type_confusion(env: Env) -> tuple[str | None, str]:
    rsa_key = make_rsa_key()
    env.server.jwks = {"keys": [*env.server.jwks["keys"], public_jwk(rsa_key, "rsa", alg="RS384")]}
    # a PS384 token under a key published for RS384 only
    return bearer(mint(rsa_key, "rsa", "PS384", env.claims())), AUD


def _weak_rsa(env: Env) -> tuple[str | None, str]:
    weak = make_rsa_key(1024)
    env.server.jwks = {"keys": [*env.server.jwks["keys"], public_jwk(weak, "weak")]}
    return bearer(mint(weak, "weak", "RS256", env.claims())), AUD


def _padded(env: Env, size: int) -> tuple[str | None, str]:
    return bearer(env.token(padding="x" * size)), AUD


def _segment(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def _with_segments(env: Env, header: bytes | None = None, payload: bytes | None = None) -> tuple[str, str]:
    h, p, s = env.token().split(".")
    return bearer(
        ".".join([_segment(header) if header is not None else h, _segment(payload) if payload else p, s])
    ), AUD


def _header_length_mod_4_is_1(env: Env) -> tuple[str, str]:
    header, payload, signature = env.token().split(".")
    header += "A" * ((1 - len(header)) % 4)
    return bearer(f"{header}.{payload}.{signature}"), AUD


Case = Callable[[Env], tuple[str | None, str]]
ATTACKS: list[Any] = [
    # alg none and HMAC key confusion
    pytest.param(lambda e: _alg_none(e, "none", False), id="alg-none-unsigned"),
    pytest.param(lambda e: _alg_none(e, "none", True), id="alg-none-with-a-valid-signature"),
    pytest.param(lambda e: _alg_none(e, "None", True), id="alg-None-capitalised"),
    pytest.param(lambda e: _alg_none(e, "NONE", True), id="alg-NONE"),
    pytest.param(lambda e: _hs_with_public_key(e, "pem"), id="hs256-signed-with-the-issuer-public-pem"),
    pytest.param(lambda e: _hs_with_public_key(e, "der"), id="hs256-signed-with-the-issuer-public-der"),
    pytest.param(lambda e: _hs_with_public_key(e, "jwk"), id="hs256-signed-with-the-issuer-public-jwk"),
    pytest.param(
        lambda e: (bearer(hmac_forgery(public_pem(e.key), KID, e.claims(), alg="HS384")), AUD),
        id="hs384-signed-with-the-issuer-public-pem",
    ),
    pytest.param(_oct_key_in_jwks, id="hs256-with-a-symmetric-key-published-in-the-jwks"),
    pytest.param(lambda e: (bearer(e.token(headers={"alg": DROP})), AUD), id="alg-missing"),
    # keys
    pytest.param(lambda e: (bearer(mint(make_es384_key(), "no-such-kid", "ES384", e.claims())), AUD), id="unknown-kid"),
    pytest.param(
        lambda e: (bearer(mint(make_es384_key(), KID, "ES384", e.claims())), AUD), id="known-kid-attacker-key"
    ),
    pytest.param(_tampered_payload, id="payload-changed-after-signing"),
    pytest.param(lambda e: (bearer(mint(e.key, KID, "ES256", e.claims())), AUD), id="es256-claimed-for-a-p384-key"),
    pytest.param(lambda e: (bearer(mint(make_rsa_key(), KID, "RS256", e.claims())), AUD), id="rs256-for-an-ec-kid"),
    pytest.param(_key_type_confusion, id="ps384-under-a-key-published-for-rs384"),
    pytest.param(_weak_rsa, id="rsa-1024-bit-key"),
    pytest.param(lambda e: (bearer(e.token(headers={"kid": ["issuer-key-1"]})), AUD), id="kid-not-a-string"),
    pytest.param(
        lambda e: (
            bearer(mint(k := make_es384_key(), "evil", "ES384", e.claims(), {"jwk": public_jwk(k, "evil")})),
            AUD,
        ),
        id="attacker-key-embedded-in-jwk-header",
    ),
    # issuer
    pytest.param(lambda e: (bearer(e.token(iss="https://evil.example.org")), AUD), id="unlisted-iss"),
    pytest.param(lambda e: (bearer(e.token(iss=ISS + "/")), AUD), id="iss-with-trailing-slash"),
    pytest.param(lambda e: (bearer(e.token(iss=[ISS])), AUD), id="iss-as-array"),
    pytest.param(lambda e: (bearer(e.token(iss=DROP)), AUD), id="iss-missing"),
    # audience
    pytest.param(lambda e: (bearer(e.token(aud="https://cds.example.org/cds-services/other")), AUD), id="wrong-aud"),
    pytest.param(lambda e: (bearer(e.token(aud=AUD + "/")), AUD), id="aud-trailing-slash"),
    pytest.param(lambda e: (bearer(e.token(aud=AUD.replace("https", "http"))), AUD), id="aud-http-not-https"),
    pytest.param(lambda e: (bearer(e.token(aud="https://cds.example.org")), AUD), id="aud-base-url-only"),
    pytest.param(lambda e: (bearer(e.token(aud=AUD[:-1])), AUD), id="aud-prefix-of-url"),
    pytest.param(lambda e: (bearer(e.token(aud=["https://a.example", "https://b.example"])), AUD), id="aud-array"),
    pytest.param(lambda e: (bearer(e.token(aud=DROP)), AUD), id="aud-missing"),
    pytest.param(lambda e: (bearer(e.token(aud=None)), AUD), id="aud-null"),
    pytest.param(lambda e: (bearer(e.token(aud="")), ""), id="aud-and-audience-empty"),
    # times
    pytest.param(lambda e: (bearer(e.token(exp=int(T0) - 61, iat=int(T0) - 400)), AUD), id="expired"),
    pytest.param(lambda e: (bearer(e.token(exp=int(T0) - 60, iat=int(T0) - 400)), AUD), id="expired-at-leeway"),
    pytest.param(lambda e: (bearer(e.token(iat=int(T0) + 61, exp=int(T0) + 400)), AUD), id="iat-in-the-future"),
    pytest.param(lambda e: (bearer(e.token(nbf=int(T0) + 61)), AUD), id="nbf-in-the-future"),
    pytest.param(lambda e: (bearer(e.token(exp=int(T0), iat=int(T0))), AUD), id="exp-not-after-iat"),
    pytest.param(lambda e: (bearer(e.token(exp=DROP)), AUD), id="exp-missing"),
    pytest.param(lambda e: (bearer(e.token(iat=DROP)), AUD), id="iat-missing"),
    pytest.param(lambda e: (bearer(e.token(exp=str(int(T0) + 300))), AUD), id="exp-a-string"),
    pytest.param(lambda e: (bearer(e.token(exp=True)), AUD), id="exp-a-boolean"),
    pytest.param(lambda e: (bearer(e.token(nbf="soon")), AUD), id="nbf-a-string"),
    # jti
    pytest.param(_replayed, id="replayed-jti"),
    pytest.param(lambda e: (bearer(e.token(jti=DROP)), AUD), id="jti-missing"),
    pytest.param(lambda e: (bearer(e.token(jti="")), AUD), id="jti-empty"),
    pytest.param(lambda e: (bearer(e.token(jti=12345)), AUD), id="jti-a-number"),
    # jku and JWS extensions
    pytest.param(_foreign_jku, id="jku-not-configured"),
    pytest.param(
        lambda e: (bearer(e.token(headers={"jku": e.server.url.replace("/jwks.json", "/other.json")})), AUD),
        id="jku-other-path-on-the-configured-host",
    ),
    pytest.param(lambda e: (bearer(e.token(headers={"typ": "at+jwt"})), AUD), id="typ-not-jwt"),
    pytest.param(lambda e: (bearer(e.token(headers={"crit": ["exp"], "exp": 1})), AUD), id="crit-header"),
    pytest.param(lambda e: (bearer(e.token(headers={"b64": False, "crit": ["b64"]})), AUD), id="b64-false"),
    # size
    pytest.param(lambda e: _padded(e, 8192), id="oversized-token"),
    pytest.param(lambda e: (bearer(e.token()) + " " + "A" * 9000, AUD), id="oversized-authorization-header"),
    # framing and encoding
    pytest.param(lambda e: (None, AUD), id="no-authorization-header"),
    pytest.param(lambda e: ("", AUD), id="empty-authorization-header"),
    pytest.param(lambda e: ("Bearer", AUD), id="bearer-without-token"),
    pytest.param(lambda e: ("Basic " + e.token(), AUD), id="basic-scheme"),
    pytest.param(lambda e: (e.token(), AUD), id="no-scheme"),
    pytest.param(lambda e: (bearer(e.token() + "." + e.token().split(".")[2]), AUD), id="four-segments"),
    pytest.param(lambda e: (bearer(".".join(e.token().split(".")[:2])), AUD), id="two-segments"),
    pytest.param(lambda e: (bearer(e.token().replace(".", ". ", 1)), AUD), id="whitespace-inside"),
    pytest.param(lambda e: (bearer(e.token()[:-2] + "!!"), AUD), id="signature-bad-base64-chars"),
    pytest.param(lambda e: (bearer(e.token()[:-1] + "="), AUD), id="signature-with-padding-char"),
    pytest.param(lambda e: (bearer("eyJ+" + e.token()[4:]), AUD), id="header-with-standard-base64-plus"),
    pytest.param(_header_length_mod_4_is_1, id="header-length-mod-4-is-1"),
    pytest.param(lambda e: (bearer("é" + e.token()), AUD), id="non-ascii"),
    pytest.param(lambda e: _with_segments(e, header=b"{not json"), id="header-not-json"),
    pytest.param(lambda e: _with_segments(e, payload=b"{not json"), id="payload-not-json"),
    pytest.param(lambda e: _with_segments(e, header=b'["ES384"]'), id="header-json-array"),
    pytest.param(lambda e: _with_segments(e, payload=b'"claims"'), id="payload-json-string"),
    pytest.param(lambda e: _with_segments(e, header=b"\xff\xfe{}"), id="header-not-utf8"),
    pytest.param(lambda e: _with_segments(e, payload=b"[" * 1500 + b"]" * 1500), id="payload-deeply-nested"),
    pytest.param(
        lambda e: (
            bearer(
                mint(
                    e.key,
                    KID,
                    "ES384",
                    e.claims(),
                    {"jku": e.server.url},
                ).split(".")[0]
                + "."
                + _segment(json.dumps(e.claims())[:-1].encode() + b', "aud": "https://evil.example/"}')
                + ".AAAA"
            ),
            AUD,
        ),
        id="duplicate-claim-names",
    ),
]


# Why each attack must fail: the (log-only) message proves it failed for the intended reason and
# not because of some unrelated defect in the case.
REASONS = {
    "alg-none-unsigned": "not base64url",  # an empty signature segment is refused before the header
    "hs256-with-a-symmetric-key-published-in-the-jwks": "alg not allowed",
    "alg-missing": "alg not allowed",
    "unknown-kid": "unknown kid",
    "attacker-key-embedded-in-jwk-header": "unknown kid",
    "known-kid-attacker-key": "bad signature",
    "payload-changed-after-signing": "bad signature",
    "kid-not-a-string": "kid is not",
    "replayed-jti": "replayed",
    "typ-not-jwt": "typ",
    "crit-header": "extensions",
    "b64-false": "extensions",
    "no-authorization-header": "no Authorization",
    "empty-authorization-header": "no Authorization",
    "basic-scheme": "not a Bearer",
    "no-scheme": "not a Bearer",
    "non-ascii": "ASCII",
    "duplicate-claim-names": "duplicate",
    "payload-deeply-nested": "payload is not valid JSON",
    "header-not-utf8": "header is not valid JSON",
}
_PREFIX_REASONS = [
    ("alg-none", "alg not allowed"),
    ("alg-None", "alg not allowed"),
    ("alg-NONE", "alg not allowed"),
    ("hs", "alg not allowed"),
    ("es256-claimed", "does not fit"),
    ("rs256-for", "does not fit"),
    ("ps384-under", "does not fit"),
    ("rsa-1024", "does not fit"),
    ("unlisted-iss", "iss not configured"),
    ("iss-missing", "claim iss missing"),
    ("iss-", "iss not configured"),
    ("aud-missing", "claim aud missing"),
    ("aud", "aud is not the URL called"),
    ("wrong-aud", "aud is not the URL called"),
    ("expired", "expired"),
    ("iat-in-the-future", "iat in the future"),
    ("nbf-in-the-future", "nbf"),
    ("exp-not-after-iat", "exp not after iat"),
    ("exp-missing", "claim exp missing"),
    ("iat-missing", "claim iat missing"),
    ("exp-a", "not a number"),
    ("nbf-a", "not a number"),
    ("jti-missing", "claim jti missing"),
    ("jti-", "jti is not"),
    ("jku-", "jku differs"),
    ("oversized", "too large"),
    ("bearer-without-token", "three-part"),
    ("four-segments", "three-part"),
    ("two-segments", "three-part"),
    ("whitespace", "not base64url"),
    ("signature-", "not base64url"),
    ("header-with-standard", "not base64url"),
    ("header-length-mod-4", "header is not base64url"),
    ("header-not-json", "header is not valid JSON"),
    ("payload-not-json", "payload is not valid JSON"),
    ("header-json-array", "header is not a JSON object"),
    ("payload-json-string", "payload is not a JSON object"),
]


def expected_reason(case_id: str) -> str:
    if case_id in REASONS:
        return REASONS[case_id]
    for prefix, reason in _PREFIX_REASONS:
        if case_id.startswith(prefix):
            return reason
    raise AssertionError(f"no expected reason for attack {case_id}")


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_rejected_with_401(env: Env, attack: Case, request: pytest.FixtureRequest) -> None:
    try:
        authorization, audience = attack(env)
        error = assert_rejected(lambda: env.verifier.verify(authorization, audience))
        assert expected_reason(request.node.callspec.id) in error.message
        # the log message never carries the token
        if authorization and len(authorization) > 20:
            assert authorization.split(" ")[-1][:20] not in error.message
        for server in [env.extra.get("attacker_server")]:
            if server is not None:
                assert server.hits == 0, "a jku taken from the token was fetched"
    finally:
        for context in env.extra.get("contexts", []):
            context.__exit__(None, None, None)


def test_duplicate_claim_names_are_rejected_even_with_a_valid_signature(env: Env) -> None:
    header = _segment(json.dumps({"alg": "ES384", "typ": "JWT", "kid": KID}).encode())
    body = json.dumps(env.claims())[:-1] + ', "aud": "https://evil.example/"}'
    from jwt.algorithms import ECAlgorithm

    signing_input = f"{header}.{_segment(body.encode())}"
    signature = ECAlgorithm(ECAlgorithm.SHA384).sign(signing_input.encode(), env.key)
    token = f"{signing_input}.{_segment(signature)}"
    assert_rejected(lambda: env.verify(token, AUD))
    assert_rejected(lambda: env.verify(token, "https://evil.example/"))


def test_oversized_token_is_refused_only_because_of_its_size(env: Env) -> None:
    token = env.token(padding="x" * 8192)
    assert_rejected(lambda: env.verify(token))
    assert env.server.hits == 0  # refused before any key was fetched
    roomy = local_verifier((Issuer(iss=ISS, jku=env.server.url),), env.clock, max_token_bytes=64 * 1024)
    assert roomy.verify(bearer(token), AUD)


def test_token_size_limit_is_exact(env: Env) -> None:
    claims = env.claims(padding="")
    size = len(mint(env.key, KID, "ES384", claims, {"jku": env.server.url}))
    n = (8192 - size) * 3 // 4 - 4
    while len(mint(env.key, KID, "ES384", {**claims, "padding": "x" * (n + 1)}, {"jku": env.server.url})) <= 8192:
        n += 1
    largest = mint(env.key, KID, "ES384", {**claims, "padding": "x" * n}, {"jku": env.server.url})
    other = {**claims, "padding": "x" * (n + 1), "jti": str(uuid.uuid4())}  # same length, fresh jti
    too_large = mint(env.key, KID, "ES384", other, {"jku": env.server.url})
    assert len(largest) <= 8192 < len(too_large) <= 8192 + 2
    assert env.verify(largest)
    error = assert_rejected(lambda: env.verify(too_large))
    assert "too large" in error.message


def test_leeway_is_configurable_down_to_zero(env: Env) -> None:
    strict = local_verifier((Issuer(iss=ISS, jku=env.server.url),), env.clock, leeway_seconds=0)
    assert_rejected(lambda: strict.verify(bearer(env.token(exp=int(T0) - 1, iat=int(T0) - 300)), AUD))
    assert_rejected(lambda: strict.verify(bearer(env.token(iat=int(T0) + 1, exp=int(T0) + 300)), AUD))
    assert env.verify(env.token(exp=int(T0) - 1, iat=int(T0) - 300))  # the default 60 s leeway


def test_leeway_above_60_seconds_is_not_honoured(env: Env) -> None:
    lax = local_verifier((Issuer(iss=ISS, jku=env.server.url),), env.clock, leeway_seconds=3600)
    assert_rejected(lambda: lax.verify(bearer(env.token(exp=int(T0) - 120, iat=int(T0) - 400)), AUD))


@pytest.mark.parametrize(
    ("iat", "exp"),
    [
        pytest.param(int(T0), int(T0) + 24 * 3600, id="24-hours"),
        pytest.param(int(T0), int(T0) + 10 * 365 * 24 * 3600, id="10-years"),
        pytest.param(int(T0) - 24 * 3600, int(T0) + 60, id="issued-a-day-ago-expiring-in-a-minute"),
        pytest.param(int(T0), int(T0) + 301, id="one-second-over-5-minutes"),
    ],
)
def test_a_token_living_longer_than_the_cap_is_refused(env: Env, iat: int, exp: int) -> None:
    refused = assert_rejected(lambda: env.verify(env.token(iat=iat, exp=exp)))
    assert "lifetime" in refused.message


def test_the_lifetime_cap_is_exact_and_configurable(env: Env) -> None:
    assert env.verify(env.token(iat=int(T0) - 100, exp=int(T0) + 200))  # 300 s: CDS Hooks clients' tokens
    hourly = local_verifier((Issuer(iss=ISS, jku=env.server.url),), env.clock, max_token_lifetime_seconds=3600)
    assert hourly.verify(bearer(env.token(exp=int(T0) + 3600)), AUD)
    assert_rejected(lambda: hourly.verify(bearer(env.token(exp=int(T0) + 3601)), AUD))


def test_a_token_expires_with_time(env: Env) -> None:
    token = env.token()
    env.clock.now += 300 + 60
    assert_rejected(lambda: env.verify(token))


# ---------------------------------------------------------------------------------------------
# Replay


def test_replay_is_refused_for_the_token_lifetime_and_across_verifiers_sharing_a_store(env: Env) -> None:
    store = MemoryReplayStore(clock=env.clock)
    first = local_verifier((Issuer(iss=ISS, jku=env.server.url),), env.clock, store)
    second = local_verifier((Issuer(iss=ISS, jku=env.server.url),), env.clock, store)
    token = env.token()
    assert first.verify(bearer(token), AUD)
    assert_rejected(lambda: second.verify(bearer(token), AUD))
    env.clock.now += 300 + 59  # still within exp + leeway: still a replay
    assert_rejected(lambda: first.verify(bearer(token), AUD))


def test_same_jti_from_a_different_issuer_is_not_a_replay(env: Env) -> None:
    other_key = make_es256_key()
    with serve_jwks(jwks_for(other_key, "o")) as other:
        verifier = local_verifier(
            (Issuer(iss=ISS, jku=env.server.url), Issuer(iss="https://other.example", jku=other.url)), env.clock
        )
        jti = str(uuid.uuid4())
        assert verifier.verify(bearer(env.token(jti=jti)), AUD)
        claims = claims_for("https://other.example", AUD, now=env.clock.now, jti=jti)
        assert verifier.verify(bearer(mint(other_key, "o", "ES256", claims)), AUD)


def test_a_rejected_token_does_not_burn_its_jti(env: Env) -> None:
    jti = str(uuid.uuid4())
    assert_rejected(lambda: env.verify(env.token(jti=jti, aud="https://evil.example/")))
    assert env.verify(env.token(jti=jti))


def test_full_replay_store_fails_closed(env: Env) -> None:
    store = MemoryReplayStore(max_entries=2, clock=env.clock)
    verifier = local_verifier((Issuer(iss=ISS, jku=env.server.url),), env.clock, store)
    assert verifier.verify(bearer(env.token()), AUD)
    assert verifier.verify(bearer(env.token()), AUD)
    with pytest.raises(ServiceUnavailable):  # a 503: the token may be fine, the store is full (decision 0127)
        verifier.verify(bearer(env.token()), AUD)
    env.clock.now += 300 + 61  # the two recorded tokens have expired: room again
    assert verifier.verify(bearer(env.token()), AUD)


# ---------------------------------------------------------------------------------------------
# JWKS fetching: cache, rotation, rate limits, failures


def test_jwks_is_fetched_once_and_cached(env: Env) -> None:
    for _ in range(5):
        assert env.verify(env.token())
    assert env.server.hits == 1


def test_rotated_key_is_picked_up_by_one_refresh_on_its_unknown_kid(env: Env) -> None:
    assert env.verify(env.token())
    new_key = make_es384_key()
    env.server.jwks = jwks_for(new_key, "rotated")
    env.clock.now += 61  # past jwks_min_refresh_seconds since the first fetch
    token = mint(new_key, "rotated", "ES384", env.claims())
    assert env.verify(token)
    assert env.server.hits == 2


def test_unknown_kids_trigger_at_most_one_refresh_per_min_refresh_interval(env: Env) -> None:
    assert env.verify(env.token())
    env.clock.now += 61
    for _ in range(10):
        assert_rejected(lambda: env.verify(mint(make_es384_key(), uuid.uuid4().hex, "ES384", env.claims())))
    assert env.server.hits == 2  # the first fetch and a single refresh
    env.clock.now += 61
    assert_rejected(lambda: env.verify(mint(make_es384_key(), "again", "ES384", env.claims())))
    assert env.server.hits == 3


def test_expired_cache_is_refetched_and_fails_closed_when_the_issuer_is_down(env: Env) -> None:
    assert env.verify(env.token())
    env.clock.now += 3600
    env.server.status = 503
    assert_rejected(lambda: env.verify(env.token()))  # stale keys are not used
    assert_rejected(lambda: env.verify(env.token()))
    assert env.server.hits == 2  # the failed refetch is not retried within jwks_min_refresh_seconds
    env.server.status = 200
    env.clock.now += 61
    assert env.verify(env.token())
    assert env.server.hits == 3


def _padded_jwks(env: Env) -> bytes:
    """The issuer's valid JWKS, grown just past 1 MB: only the size cap can refuse it."""
    document = json.dumps({**env.server.jwks, "padding": ""}).encode()
    return document[:-2] + b" " * (1024 * 1024 - len(document) + 3) + document[-2:]


def test_a_jwks_of_just_under_1mb_is_accepted(env: Env) -> None:
    document = json.dumps({**env.server.jwks, "padding": ""}).encode()
    env.server.body = document[:-2] + b" " * (1024 * 1024 - len(document)) + document[-2:]
    assert len(env.server.body) == 1024 * 1024
    assert env.verify(env.token())


def _redirect(env: Env) -> None:
    attacker = make_es384_key()
    context = serve_jwks(jwks_for(attacker, KID))
    other = context.__enter__()
    env.extra["contexts"] = [context]
    env.extra["attacker_server"] = other
    env.key = attacker  # a token the redirected JWKS would validate
    env.server.status, env.server.location = 302, other.url


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda e: setattr(e.server, "status", 500), id="server-error"),
        pytest.param(lambda e: setattr(e.server, "status", 404), id="not-found"),
        pytest.param(_redirect, id="redirect-is-not-followed"),
        pytest.param(lambda e: setattr(e.server, "body", _padded_jwks(e)), id="over-1mb"),
        pytest.param(
            lambda e: (
                setattr(e.server, "body", _padded_jwks(e)),
                setattr(e.server, "send_length", False),
            ),
            id="over-1mb-without-content-length",
        ),
        pytest.param(lambda e: setattr(e.server, "body", b"<html>"), id="not-json"),
        pytest.param(lambda e: setattr(e.server, "body", b'{"keys": {}}'), id="keys-not-a-list"),
        pytest.param(
            lambda e: setattr(
                e.server, "body", b'{"keys": [], "keys": ' + json.dumps(e.server.jwks["keys"]).encode() + b"}"
            ),
            id="duplicate-keys-member",
        ),
        pytest.param(
            lambda e: setattr(e.server, "jwks", {"keys": [{**public_jwk(e.key, KID), "use": "enc"}]}),
            id="key-for-encryption-only",
        ),
        pytest.param(
            lambda e: setattr(
                e.server,
                "jwks",
                {"keys": [{**public_jwk(e.key, KID), "d": _segment(b"\x01" * 48)}]},
            ),
            id="private-jwk-published",
        ),
    ],
)
def test_a_broken_jwks_endpoint_means_401(env: Env, breakage: Callable[[Env], Any]) -> None:
    try:
        breakage(env)
        assert_rejected(lambda: env.verify(env.token()))
        other = env.extra.get("attacker_server")
        assert other is None or other.hits == 0
    finally:
        for context in env.extra.get("contexts", []):
            context.__exit__(None, None, None)


def test_jwks_fetch_times_out() -> None:
    key, clock = make_es384_key(), Clock()
    with serve_jwks(jwks_for(key, KID)) as server:
        server.delay = 1.0
        verifier = local_verifier((Issuer(iss=ISS, jku=server.url),), clock, jwks_timeout_seconds=0.2)
        assert_rejected(lambda: verifier.verify(bearer(mint(key, KID, "ES384", claims_for(ISS, AUD, now=T0))), AUD))


def test_pinned_jwks_file_without_usable_keys_is_a_configuration_error(tmp_path: Path) -> None:
    from cds_service.errors import ConfigError

    bad = tmp_path / "jwks.json"
    bad.write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}))
    with pytest.raises(ConfigError):
        local_verifier((Issuer(iss=ISS, jwks_file=bad),), Clock())


# ---------------------------------------------------------------------------------------------
# jku addresses: only public, resolved addresses, over HTTPS


def test_jku_on_loopback_is_refused_without_being_fetched(env: Env) -> None:
    production_like = local_verifier(
        (Issuer(iss=ISS, jku=env.server.url),), env.clock, allow_private_jku=False, allow_http_jku=True
    )
    assert_rejected(lambda: production_like.verify(bearer(env.token()), AUD))
    assert env.server.hits == 0


def test_plain_http_jku_is_refused_without_being_fetched(env: Env) -> None:
    production_like = local_verifier(
        (Issuer(iss=ISS, jku=env.server.url),), env.clock, allow_private_jku=True, allow_http_jku=False
    )
    assert_rejected(lambda: production_like.verify(bearer(env.token()), AUD))
    assert env.server.hits == 0


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.1.2.3"],
        ["172.16.0.9"],
        ["192.168.1.1"],
        ["169.254.169.254"],
        ["100.64.0.1"],
        ["0.0.0.0"],
        ["224.0.0.1"],
        ["240.0.0.1"],
        ["::1"],
        ["fe80::1"],
        ["fc00::1"],
        ["::ffff:127.0.0.1"],
        ["::ffff:10.0.0.1"],
        ["64:ff9b::a9fe:a9fe"],
        ["2002:0a00:0001::1"],
        ["93.184.216.34", "10.0.0.1"],  # one private answer among public ones is enough
        [],
    ],
    ids=lambda a: "+".join(a) or "no-address",
)
def test_jku_host_resolving_to_a_non_public_address_is_refused(addresses: list[str]) -> None:
    key, clock, asked = make_es384_key(), Clock(), []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return addresses

    fetched: list[str] = []

    class RecordingSession:
        def get(self, url: str, *args: Any, **kwargs: Any) -> Any:
            fetched.append(url)  # not raised from here: the verifier would turn it into a 401 anyway
            raise requests.ConnectionError("no network in this test")

    jku = "https://keys.ehr.example.org/jwks.json"
    verifier = JwtVerifier(
        AuthSettings(issuers=(Issuer(iss=ISS, jku=jku),)),
        MemoryReplayStore(clock=clock),
        session=RecordingSession(),  # type: ignore[arg-type]
        clock=clock,
        resolver=resolver,
    )
    token = mint(key, KID, "ES384", claims_for(ISS, AUD, now=clock.now), {"jku": jku})
    assert_rejected(lambda: verifier.verify(bearer(token), AUD))
    assert asked == [("keys.ehr.example.org", 443)]  # the name was resolved, not judged by its looks
    assert fetched == [], "a jku resolving to a non-public address was fetched"


@pytest.mark.parametrize(
    "jku",
    [
        "https://127.0.0.1/jwks.json",
        "https://[::1]/jwks.json",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/jwks.json",
        "https://2130706433/jwks.json",
    ],
)
def test_jku_given_as_a_private_literal_or_local_name_is_refused(jku: str) -> None:
    clock, fetched = Clock(), []

    class RecordingSession:
        def get(self, url: str, *args: Any, **kwargs: Any) -> Any:
            fetched.append(url)
            raise requests.ConnectionError("no network in this test")

    verifier = JwtVerifier(
        AuthSettings(issuers=(Issuer(iss=ISS, jku=jku),)),
        MemoryReplayStore(),
        session=RecordingSession(),  # type: ignore[arg-type]
        clock=clock,
    )
    key = make_es384_key()
    token = mint(key, KID, "ES384", claims_for(ISS, AUD, now=clock.now), {"jku": jku})
    error = assert_rejected(lambda: verifier.verify(bearer(token), AUD))
    assert fetched == [] and "non-public" in error.message


def test_public_addresses_pass_the_address_check() -> None:
    assert public_addresses_only("keys.example", 443, lambda h, p: ["93.184.216.34", "2606:2800:220:1::1"])


# ---------------------------------------------------------------------------------------------
# Fuzzing: nothing but Unauthorized ever comes out, and no single-character change passes


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=400), st.text(alphabet="ABCDEFabcdef0123456789-_.=+/ ", max_size=400)))
def test_arbitrary_headers_only_ever_raise_unauthorized(env: Env, text: str) -> None:
    for header in (text, "Bearer " + text):
        with pytest.raises(Unauthorized):
            env.verifier.verify(header, AUD)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_character_change_to_a_valid_token_is_rejected(env: Env, data: st.DataObject) -> None:
    token = env.token()
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != token[position]]))
    mutated = token[:position] + replacement + token[position + 1 :]
    assert_rejected(lambda: env.verify(mutated))
