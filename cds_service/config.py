"""Settings from a TOML file, validated, with embedded defaults that work with no file at all.

The key names are a contract with deployments (issue #2): `public_base_url`, `database_url`,
`[fhir] allowed_servers / timeout_seconds`, `[auth] require_jwt`, `[[auth.issuers]] iss, jku | jwks_file`.
"""
from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cds_service.errors import ConfigError

CONFIG_ENV = "SIROLIMUS_CDS_CONFIG"
# Environment variables that override one key of the file (containers, twelve-factor deployments).
PORT_ENV = "SIROLIMUS_CDS_PORT"
METRICS_PORT_ENV = "SIROLIMUS_CDS_METRICS_PORT"
LOG_LEVEL_ENV = "SIROLIMUS_CDS_LOG_LEVEL"
ENV_OVERRIDES = {"SIROLIMUS_CDS_DATABASE_URL": "database_url", "SIROLIMUS_CDS_REDIS_URL": "redis_url",
                 LOG_LEVEL_ENV: "log_level"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SMART_R4_SANDBOX = "https://launch.smarthealthit.org/v/r4/fhir"


@dataclass(frozen=True, kw_only=True)
class Issuer:
    """An EHR allowed to call us: its `iss` and where its public keys come from."""

    iss: str
    jku: str | None = None
    jwks_file: Path | None = None


@dataclass(frozen=True, kw_only=True)
class AuthSettings:
    require_jwt: bool = True
    issuers: tuple[Issuer, ...] = ()  # no issuer is trusted unless configured (issue #12)
    trust_sandbox: bool = False  # also trust the public CDS Hooks sandbox (a trial; logged at WARNING)
    leeway_seconds: int = 60
    max_token_lifetime_seconds: int = 300  # exp - iat; CDS Hooks clients issue 5-minute tokens (decision 0121)
    max_token_bytes: int = 8192
    jwks_timeout_seconds: float = 5.0
    jwks_cache_seconds: int = 3600
    jwks_min_refresh_seconds: int = 60


@dataclass(frozen=True, kw_only=True)
class FhirSettings:
    allowed_servers: tuple[str, ...] = (SMART_R4_SANDBOX,)
    timeout_seconds: float = 5.0
    max_pages: int = 5
    max_response_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class LimitSettings:
    max_body_bytes: int = 2 * 1024 * 1024
    max_json_depth: int = 40
    max_array_length: int = 5000
    max_bundle_entries: int = 2000
    max_string_length: int = 100_000


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    """Bounds on every wait for the database (seconds): beyond them a request is answered 503."""

    connect_timeout_seconds: float = 2.0  # opening a connection (PostgreSQL counts at least 2)
    pool_timeout_seconds: float = 2.0  # waiting for a free connection of the worker's pool
    statement_timeout_seconds: float = 3.0  # any one statement, commit included


@dataclass(frozen=True, kw_only=True)
class Settings:
    # None: the URL is taken from each request's Host (fine for a trial; set it in production,
    # where a proxy sits in front, so that the JWT `aud` check cannot be steered by a Host header).
    public_base_url: str | None = None
    database_url: str = "sqlite:///sirolimus-cds.db"
    redis_url: str | None = None
    decision_page_days: int = 30
    timezone: str = "UTC"  # the clinic's time zone: "today" for due dates and trough ages
    log_level: str = "INFO"  # one of LOG_LEVELS: the service's and gunicorn's JSON log lines
    fhir: FhirSettings = field(default_factory=FhirSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)



def _http_url(value: Any, key: str) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in {"http", "https"} or not urlsplit(value).netloc:
        raise ConfigError(f"{key} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


TOP_LEVEL = "the top level"
KNOWN_KEYS = {  # section -> the keys a configuration file may give in it
    TOP_LEVEL: {"public_base_url", "database_url", "redis_url", "decision_page_days", "timezone", "log_level", "fhir",
                "auth", "limits", "database"},
    "[fhir]": {"allowed_servers", "timeout_seconds", "max_pages", "max_response_bytes"},
    "[auth]": {"require_jwt", "issuers", "leeway_seconds", "trust_sandbox", "max_token_lifetime_seconds"},
    "[[auth.issuers]]": {"iss", "jku", "jwks_file"},
    "[limits]": set(LimitSettings.__dataclass_fields__),
    "[database]": set(DatabaseSettings.__dataclass_fields__),
}
# what a value of each expected type looks like, in the file's words
EXPECTED = {bool: "true or false", int: "a whole number", (int, float): "a number", str: "a string in quotes",
            list: "an array [...]", dict: "a table"}


def unknown_keys(data: dict[str, Any]) -> list[str]:
    """Every key of every section that is not a setting, each with the known key it is closest to."""
    found = _unknown_in(data, TOP_LEVEL)
    for section in ("fhir", "auth", "limits", "database"):
        if isinstance(data.get(section), dict):
            found += _unknown_in(data[section], f"[{section}]")
    issuers = data["auth"].get("issuers") if isinstance(data.get("auth"), dict) else None
    for number, entry in enumerate(issuers if isinstance(issuers, list) else [], start=1):
        if isinstance(entry, dict):
            found += _unknown_in(entry, "[[auth.issuers]]", f" #{number}")
    return found


def _unknown_in(table: dict[str, Any], section: str, which: str = "") -> list[str]:
    known = sorted(KNOWN_KEYS[section])
    found = []
    for key in sorted(set(table) - set(known)):
        close = difflib.get_close_matches(key, known, n=1)
        if close:
            hint = f" (did you mean {close[0]}?)"
        elif key in KNOWN_KEYS[TOP_LEVEL]:
            hint = " (a top-level key: put it above the first [section])"
        else:
            hint = ""
        found.append(f"{key} in {section}{which}{hint}")
    return found


def _typed(table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, section: str) -> Any:
    """`table[key]`, else `default`; a value of another type is refused naming its section and the type."""
    value = table.get(key, default)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        where = f"[{key}]" if kind is dict else (f"{key} (top level)" if section == TOP_LEVEL else f"{section} {key}")
        raise ConfigError(f"{where} must be {EXPECTED[kind]}, got {shown} (wrong type)")
    return value


def _issuers(raw: Any, base_dir: Path) -> tuple[Issuer, ...]:
    if not isinstance(raw, list):
        raise ConfigError("[[auth.issuers]] must be an array of tables")
    issuers = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise ConfigError("each [[auth.issuers]] must be a table")
        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss:
            raise ConfigError("each [[auth.issuers]] needs an iss")
        jku, jwks_file = entry.get("jku"), entry.get("jwks_file")
        if (jku is None) == (jwks_file is None):
            raise ConfigError(f"issuer {iss}: give exactly one of jku or jwks_file")
        if jku is not None:
            issuers.append(Issuer(iss=iss, jku=_http_url(jku, "jku")))
        else:
            path = Path(jwks_file)
            path = path if path.is_absolute() else base_dir / path
            if not path.is_file():
                raise ConfigError(f"issuer {iss}: jwks_file {path} does not exist")
            issuers.append(Issuer(iss=iss, jwks_file=path))
    return tuple(issuers)


def settings_from_dict(data: dict[str, Any], base_dir: Path | None = None) -> Settings:
    """Validate a parsed TOML document; anything not given keeps its embedded default."""
    base_dir = base_dir or Path.cwd()
    defaults = Settings()
    unknown = unknown_keys(data)
    if unknown:
        raise ConfigError(f"unknown key(s): {'; '.join(unknown)}")
    fhir_raw = _typed(data, "fhir", dict, {}, TOP_LEVEL)
    servers = _typed(fhir_raw, "allowed_servers", list, list(defaults.fhir.allowed_servers), "[fhir]")
    fhir = FhirSettings(
        allowed_servers=tuple(_http_url(s, "fhir.allowed_servers") for s in servers),
        timeout_seconds=float(
            _typed(fhir_raw, "timeout_seconds", (int, float), defaults.fhir.timeout_seconds, "[fhir]")),
        max_pages=_typed(fhir_raw, "max_pages", int, defaults.fhir.max_pages, "[fhir]"),
        max_response_bytes=_typed(fhir_raw, "max_response_bytes", int, defaults.fhir.max_response_bytes, "[fhir]"),
    )
    if not 0 < fhir.timeout_seconds <= 60:
        raise ConfigError("fhir.timeout_seconds must be between 0 and 60")
    auth_raw = _typed(data, "auth", dict, {}, TOP_LEVEL)
    leeway = _typed(auth_raw, "leeway_seconds", int, defaults.auth.leeway_seconds, "[auth]")
    if not 0 <= leeway <= 60:
        raise ConfigError("auth.leeway_seconds must be between 0 and 60")
    lifetime = _typed(auth_raw, "max_token_lifetime_seconds", int, defaults.auth.max_token_lifetime_seconds,
                      "[auth]")
    if not 1 <= lifetime <= 3600:
        raise ConfigError("auth.max_token_lifetime_seconds must be between 1 and 3600")
    auth = AuthSettings(
        require_jwt=_typed(auth_raw, "require_jwt", bool, True, "[auth]"),
        issuers=_issuers(auth_raw["issuers"], base_dir) if "issuers" in auth_raw else defaults.auth.issuers,
        leeway_seconds=leeway,
        max_token_lifetime_seconds=lifetime,
    )
    if _typed(auth_raw, "trust_sandbox", bool, False, "[auth]"):
        auth = with_sandbox_trusted(auth)
    limits_raw = _typed(data, "limits", dict, {}, TOP_LEVEL)
    limits = LimitSettings(**{k: _typed(limits_raw, k, int, getattr(defaults.limits, k), "[limits]")
                              for k in KNOWN_KEYS["[limits]"]})
    database = _database(_typed(data, "database", dict, {}, TOP_LEVEL))
    database_url = _typed(data, "database_url", str, defaults.database_url, TOP_LEVEL)
    if not database_url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        raise ConfigError("database_url must be sqlite:///... or postgresql://...")
    redis_url = data.get("redis_url")
    if redis_url is not None and (not isinstance(redis_url, str) or not redis_url.startswith(("redis://", "rediss://"))):
        raise ConfigError("redis_url must be redis://... or rediss://...")
    timezone = _typed(data, "timezone", str, defaults.timezone, TOP_LEVEL)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"timezone {timezone!r} is not an IANA time zone name") from exc
    log_level = str(_typed(data, "log_level", str, defaults.log_level, TOP_LEVEL)).upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level (or ${LOG_LEVEL_ENV}) must be one of {', '.join(LOG_LEVELS)}, "
                          f"got {data['log_level']!r}")
    return Settings(
        timezone=timezone,
        log_level=log_level,
        public_base_url=(
            _http_url(data["public_base_url"], "public_base_url") if "public_base_url" in data else None
        ),
        database_url=database_url,
        redis_url=redis_url,
        decision_page_days=_typed(data, "decision_page_days", int, defaults.decision_page_days, TOP_LEVEL),
        fhir=fhir,
        auth=auth,
        limits=limits,
        database=database,
    )


def _database(raw: dict[str, Any]) -> DatabaseSettings:
    values = {k: float(_typed(raw, k, (int, float), getattr(DatabaseSettings(), k), "[database]"))
              for k in KNOWN_KEYS["[database]"]}
    for key, value in values.items():
        if not 0 < value <= 60:
            raise ConfigError(f"database.{key} must be between 0 and 60 seconds")
    return DatabaseSettings(**values)


SANDBOX = Issuer(iss=SANDBOX_ISSUER, jku=SANDBOX_JKU)


def with_sandbox_trusted(auth: AuthSettings) -> AuthSettings:
    """`auth` that also trusts the public CDS Hooks sandbox (`trust_sandbox = true` or `serve --trust-sandbox`)."""
    others = tuple(i for i in auth.issuers if i.iss != SANDBOX_ISSUER)
    return replace(auth, trust_sandbox=True, issuers=(*others, SANDBOX))


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read `path`, else $SIROLIMUS_CDS_CONFIG, else use the embedded defaults."""
    chosen = path or os.environ.get(CONFIG_ENV)
    overrides = {key: os.environ[name] for name, key in ENV_OVERRIDES.items() if os.environ.get(name)}
    if not chosen:
        return settings_from_dict(overrides) if overrides else Settings()
    file = Path(chosen)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file {file} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {file} is not valid TOML: {exc}") from exc
    return settings_from_dict({**data, **overrides}, base_dir=file.parent)
