"""Configuration: embedded defaults, the documented key names, and clear refusals."""
from pathlib import Path

import pytest

from cds_service.config import SANDBOX_ISSUER, SANDBOX_JKU, SMART_R4_SANDBOX, load_settings, settings_from_dict
from cds_service.errors import ConfigError


def test_no_file_gives_the_embedded_defaults(monkeypatch):
    monkeypatch.delenv("SIROLIMUS_CDS_CONFIG", raising=False)
    settings = load_settings()
    assert settings.auth.require_jwt is True
    assert settings.auth.issuers == ()  # no issuer is trusted unless configured (#12)
    assert settings.auth.trust_sandbox is False
    assert settings.fhir.allowed_servers == (SMART_R4_SANDBOX,)
    assert settings.database_url.startswith("sqlite:///")


def test_the_documented_example_file_loads(tmp_path: Path, monkeypatch):
    (tmp_path / "jwks.json").write_text('{"keys": []}')
    config = tmp_path / "cds.toml"
    config.write_text(
        """
public_base_url = "https://cds.example.org/"
database_url = "postgresql://cds@db/cds"
[fhir]
allowed_servers = ["https://ehr.example.org/fhir/r4/"]
timeout_seconds = 3
[auth]
require_jwt = true
[[auth.issuers]]
iss = "https://sandbox.cds-hooks.org"
jku = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
[[auth.issuers]]
iss = "https://ehr.example.org"
jwks_file = "jwks.json"
"""
    )
    monkeypatch.setenv("SIROLIMUS_CDS_CONFIG", str(config))
    settings = load_settings()
    assert settings.public_base_url == "https://cds.example.org"
    assert settings.fhir.allowed_servers == ("https://ehr.example.org/fhir/r4",)
    assert settings.fhir.timeout_seconds == 3.0
    assert settings.auth.issuers[1].jwks_file == tmp_path / "jwks.json"


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"fhir": {"allowed_servers": ["ftp://x"]}}, "http(s) URL"),
        ({"fhir": {"timeout_seconds": 600}}, "timeout_seconds"),
        ({"auth": {"require_jwt": "yes"}}, "wrong type"),
        ({"auth": {"issuers": [{"iss": "https://a"}]}}, "exactly one of jku or jwks_file"),
        ({"auth": {"issuers": [{"iss": "https://a", "jwks_file": "/nonexistent.json"}]}}, "does not exist"),
        ({"auth": {"leeway_seconds": 300}}, "leeway"),
        ({"auth": {"max_token_lifetime_seconds": 86400}}, "max_token_lifetime_seconds"),
        ({"auth": {"max_token_lifetime_seconds": 0}}, "max_token_lifetime_seconds"),
        ({"databse_url": "sqlite:///x.db"}, "unknown key"),
        ({"database_url": "mysql://x"}, "database_url"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(document, complaint):
    with pytest.raises(ConfigError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        settings_from_dict(document)


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("public_base_url = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


def test_trusting_the_public_sandbox_is_an_explicit_line(tmp_path: Path):
    settings = settings_from_dict({"auth": {"trust_sandbox": True}}, base_dir=tmp_path)
    assert [(i.iss, i.jku) for i in settings.auth.issuers] == [(SANDBOX_ISSUER, SANDBOX_JKU)]
    assert settings_from_dict({"auth": {}}, base_dir=tmp_path).auth.issuers == ()


def test_the_readme_lists_every_key_with_its_default(tmp_path: Path):
    import re
    import tomllib
    from dataclasses import fields

    from cds_service.config import AuthSettings, FhirSettings, LimitSettings, Settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Configuration.*?```toml\n(.*?)```", readme, re.S)
    assert block, "README has a ## Configuration toml block"
    data = tomllib.loads(block.group(1))
    settings = settings_from_dict(data, base_dir=tmp_path)  # every documented key is a real key
    top = {f.name for f in fields(Settings)} - {"fhir", "auth", "limits"}
    assert top <= set(data)
    assert {f.name for f in fields(FhirSettings)} <= set(data["fhir"])
    assert {f.name for f in fields(LimitSettings)} <= set(data["limits"])
    documented = {"require_jwt", "trust_sandbox", "leeway_seconds", "max_token_lifetime_seconds", "issuers"}
    assert documented <= set(data["auth"])
    assert all(getattr(settings.limits, k) == getattr(LimitSettings(), k) for k in data["limits"])
    assert settings.fhir.max_pages == FhirSettings().max_pages
    assert settings.auth.leeway_seconds == AuthSettings().leeway_seconds
    assert settings.auth.max_token_lifetime_seconds == AuthSettings().max_token_lifetime_seconds


def test_every_unknown_key_of_every_section_is_named_at_once_with_its_closest_key():
    document = {"databse_url": "sqlite:///x.db", "fhir": {"timout_seconds": 3, "colour": "blue"},
                "auth": {"require_jwt": True, "database_url": "sqlite:///y.db",
                         "issuers": [{"iss": "https://a", "jku": "https://a/jwks", "jwku": "https://a/jwks"}]},
                "limits": {"max_body_byte": 10}}
    with pytest.raises(ConfigError) as refused:
        settings_from_dict(document)
    message = refused.value.message
    assert "\n" not in message
    for named in ("databse_url in the top level (did you mean database_url?)",
                  "timout_seconds in [fhir] (did you mean timeout_seconds?)",
                  "colour in [fhir]",
                  "database_url in [auth] (a top-level key: put it above the first [section])",
                  "jwku in [[auth.issuers]] #1 (did you mean jku?)",
                  "max_body_byte in [limits] (did you mean max_body_bytes?)"):
        assert named in message
    assert "colour in [fhir] (" not in message  # nothing close: no guess


@pytest.mark.parametrize(
    ("document", "said"),
    [
        ({"auth": {"require_jwt": "yes"}}, "[auth] require_jwt must be true or false, got 'yes'"),
        ({"fhir": {"timeout_seconds": True}}, "[fhir] timeout_seconds must be a number, got true"),
        ({"database": {"pool_timeout_seconds": "2"}}, "[database] pool_timeout_seconds must be a number, got '2'"),
        ({"limits": {"max_body_bytes": "1MB"}}, "[limits] max_body_bytes must be a whole number, got '1MB'"),
        ({"decision_page_days": 1.5}, "decision_page_days (top level) must be a whole number, got 1.5"),
        ({"fhir": 5}, "[fhir] must be a table, got 5"),
    ],
)
def test_a_wrong_type_names_the_section_and_the_expected_type(document, said):
    with pytest.raises(ConfigError) as refused:
        settings_from_dict(document)
    assert refused.value.message.startswith(said)
