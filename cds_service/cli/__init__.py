"""Command line: `sirolimus-cds serve | demo | db upgrade | db purge | seed | check | plan | report | simulate
| token`."""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from cds_service.cli.arguments import add_toolkit_commands
from cds_service.config import (
    LOG_LEVEL_ENV,
    LOG_LEVELS,
    METRICS_PORT_ENV,
    PORT_ENV,
    SANDBOX_ISSUER,
    Settings,
    load_settings,
    with_sandbox_trusted,
)
from cds_service.errors import ConfigError


def _serve(args: argparse.Namespace) -> int:
    from cds_service.cli.serve import metrics_directory

    with metrics_directory():  # before anything imports prometheus_client
        return _serve_in(args)


def _serve_in(args: argparse.Namespace) -> int:
    from cds_service.app import create_app
    from cds_service.cli.serve import run
    from cds_service.http.operations import METRICS_PORT

    settings = load_settings(args.config)
    port = args.port if args.port is not None else env_port()
    if args.trust_sandbox:
        settings = replace(settings, auth=with_sandbox_trusted(settings.auth))
    settings, host, notice = _auth_and_host(args, settings)
    # Every port before any other line and before the database: a failed start prints one line, leaves nothing.
    port_is_free(host, port)
    metrics_port = _metrics_port(args, port)
    if metrics_port is not None:
        port_is_free(host, metrics_port)
    if notice:
        print(notice, file=sys.stderr)
    start_logging(settings.log_level)
    if settings.auth.require_jwt and any(i.iss == SANDBOX_ISSUER for i in settings.auth.issuers):
        logging.getLogger("sirolimus_cds").warning(
            "trusting the public CDS Hooks sandbox (%s): anyone can get a token it signs; for trials only",
            SANDBOX_ISSUER)
    # --dev brings a trial database to the newest schema; otherwise `db upgrade` is an operator's step.
    app = database_or_one_line(settings, lambda: create_app(settings, upgrade_database=args.dev))
    if metrics_port is not None:
        app.config[METRICS_PORT] = metrics_port
        print(f"metrics on http://{host}:{metrics_port}/metrics (worker samples in "
              f"{os.environ.get('PROMETHEUS_MULTIPROC_DIR')})", file=sys.stderr)
    from cds_service.service.warm import share_with_workers, warm_up

    warm_up()  # in the master, before the fork: every worker starts warm
    share_with_workers()  # and what it loaded stays shared with the workers (decision 0141)
    print(f"sirolimus-cds listening on http://{host}:{port}/cds-services", file=sys.stderr)
    run(app, host, port, args.workers, log_level=settings.log_level)
    return 0


def _auth_and_host(args: argparse.Namespace, settings: Settings) -> tuple[Settings, str, str | None]:
    """The settings and address `serve` runs with, and what to tell the operator once the ports are free."""
    if args.dev:
        # Local trial: no JWT, and therefore reachable from this machine only.
        settings = replace(settings, auth=replace(settings.auth, require_jwt=False))
        return settings, "127.0.0.1", "dev mode: JWT verification OFF, listening on 127.0.0.1 only"
    if settings.auth.require_jwt and not settings.auth.issuers:
        raise ConfigError("JWT is required but no issuer is trusted: add [[auth.issuers]] (iss and jku or "
                          "jwks_file) to the configuration, or pass --trust-sandbox to try the public sandbox, "
                          "or --dev for a local trial")
    if not settings.auth.require_jwt and args.host not in ("127.0.0.1", "localhost", "::1"):
        return settings, args.host, ("warning: require_jwt = false on a non-loopback address: anyone who can "
                                     "reach this port can call the service")
    return settings, args.host, None


def start_logging(level: str) -> None:
    """The service's JSON log lines at `level` (gunicorn's follow it, cds_service/cli/serve.py)."""
    from cds_service.http.logs import configure_logging

    if level.upper() not in LOG_LEVELS:
        raise ConfigError(f"{LOG_LEVEL_ENV}={level} is not one of {', '.join(LOG_LEVELS)}")
    configure_logging(level.upper())


def database_or_one_line(settings: Settings, use_database: Callable[[], Any]) -> Any:
    """`use_database()`, or a ConfigError naming the database URL (without password) and what to check."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return use_database()
    except SQLAlchemyError as exc:
        url = make_url(settings.database_url).render_as_string(hide_password=True)
        hint = ("check that its folder exists and is writable" if url.startswith("sqlite")
                else "check that the server is running, reachable, and the database and user exist")
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ConfigError(f"cannot open the database {url}: {reason}; {hint}") from None


def _db_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from cds_service.audit import schema
    from cds_service.audit.store import Store

    settings = load_settings(args.config)
    # An operator's command: a migration may rewrite a large table, so statements get an hour, not the
    # seconds a request gets; connecting keeps its bound (a wrong host fails fast).
    store = Store(settings.database_url, replace(settings.database, statement_timeout_seconds=3600))
    try:
        done = database_or_one_line(settings, lambda: schema.upgrade(store.engine))
    finally:
        store.close()
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    if done.before == done.after:
        print(f"{url}: already at schema revision {done.after}; nothing to do")
    else:
        stamped = " (first-release tables found and stamped 0001)" if done.stamped_first_release else ""
        print(f"{url}: schema upgraded from revision {done.before or 'none'} to {done.after}{stamped}")
    return 0


def _db_purge(args: argparse.Namespace) -> int:
    """Decision pages older than `decision_page_days` purged; for cron (README, "Housekeeping")."""
    import datetime as dt

    from sqlalchemy.engine import make_url

    from cds_service.audit import schema
    from cds_service.audit.store import Store
    from cds_service.errors import ServiceUnavailable

    settings = load_settings(args.config)
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    store = Store(settings.database_url, replace(settings.database, statement_timeout_seconds=600))
    try:
        # A database with no schema (a wrong path in the cron line, no `db upgrade` yet) is said so,
        # not reported as a database that did not answer.
        database_or_one_line(settings, lambda: schema.require_current(store.engine))
        now = dt.datetime.now(dt.UTC)
        purged = database_or_one_line(settings, lambda: store.purge_decision_pages(now, settings.decision_page_days))
    except ServiceUnavailable as exc:
        raise ConfigError(f"{url}: {exc.message}; nothing was purged, run it again later") from None
    finally:
        store.close()
    print(f"{url}: {purged} decision page(s) older than {settings.decision_page_days} days purged "
          "(their audit records kept)")
    return 0


def port_is_free(host: str, port: int) -> None:
    """Bind once before saying "listening", so a port in use is one line, not a gunicorn traceback."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another port with "
                          f"--port or ${PORT_ENV}") from None


def _metrics_port(args: argparse.Namespace, port: int) -> int | None:
    """--metrics-port, else $SIROLIMUS_CDS_METRICS_PORT, else none (no /metrics listener)."""
    raw = str(args.metrics_port) if args.metrics_port is not None else os.environ.get(METRICS_PORT_ENV, "")
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"the metrics port {raw} is not a port number (1-65535)")
    if int(raw) == port:
        raise ConfigError(f"the metrics port must differ from the service's port ({port}): /metrics is not "
                          "served where the EHR calls")
    return int(raw)


def env_port() -> int:
    raw = os.environ.get(PORT_ENV, "8080")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{PORT_ENV}={raw} is not a port number (1-65535)")
    return int(raw)


def _version() -> str:
    try:
        return version("sirolimus-cds")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sirolimus-cds", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the CDS Hooks service under gunicorn",
                           description="Run the CDS Hooks service under gunicorn: EHRs call it with a JWT from an "
                           "issuer the configuration trusts (--dev for a local trial without).")
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help=f"port (default ${PORT_ENV}, else 8080)")
    serve.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    serve.add_argument("--config", help="TOML configuration file (default: $SIROLIMUS_CDS_CONFIG, else the "
                       "embedded defaults, which require a JWT and trust no issuer: serve starts with them only "
                       "with --dev or --trust-sandbox; add [[auth.issuers]] to a file otherwise)")
    serve.add_argument("--trust-sandbox", action="store_true",
                       help="also accept tokens from the public CDS Hooks sandbox (trials only; logged as WARNING)")
    serve.add_argument("--dev", action="store_true", help="local trial: JWT off, bind 127.0.0.1 only")
    serve.add_argument("--metrics-port", type=int, default=None,
                       help=f"also listen on this port for /metrics and the probes (default ${METRICS_PORT_ENV}, "
                       "else no metrics listener)")
    serve.set_defaults(func=_serve)

    db = sub.add_parser("db", help="the audit database: schema upgrades, purging old decision pages",
                        description="Operator's commands on the audit database named by the configuration.")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="bring the database to this release's schema (idempotent; "
                                "serve refuses a database that is behind)",
                                description="Bring the audit database to this release's schema; run it before "
                                "serve after each upgrade (it does nothing when already current).")
    _add_config_option(upgrade)
    upgrade.set_defaults(func=_db_upgrade)
    purge = db_sub.add_parser("purge", help="delete the decision pages older than decision_page_days (run it "
                              "daily from cron); the audit records stay",
                              description="Delete the decision pages older than decision_page_days, keeping "
                              "their audit records; run it daily from cron.")
    _add_config_option(purge)
    purge.set_defaults(func=_db_purge)

    add_toolkit_commands(sub)
    return parser




DATA_COMMANDS = frozenset({"serve", "check", "plan", "demo", "simulate"})  # they decide with the data files


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    """`--config` of the database commands: they read the configuration as serve does."""
    parser.add_argument("--config", help="TOML configuration file (default: $SIROLIMUS_CDS_CONFIG, "
                        "else the embedded defaults)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in DATA_COMMANDS:
        from cds_service.service.data_files import first_data_problem

        problem = first_data_problem()
        if problem:
            print(f"data file error: {problem}", file=sys.stderr)
            return 2
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"configuration error: {exc.message}", file=sys.stderr)
        return 2

