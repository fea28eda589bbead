"""Every `sirolimus-cds` command's help and options, importing nothing a command needs only to run.

`sirolimus-cds --help` (and any command's `--help`) builds the whole parser from here, so it must stay
light: argparse, constants, the configuration's variable names. A command's implementation (numpy, scipy,
matplotlib, SQLAlchemy, Flask, the FHIR client, PyJWT, ...) is named by `Command` and imported when that
command runs. `serve` and `db` are built in `cds_service/cli/__init__.py`, whose functions are light too.
"""
from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cds_service.config import PORT_ENV
from cds_service.simulation import ARMS
from cds_service.synthetic import scenario_names

TOKEN_ENV = "SIROLIMUS_CDS_FHIR_TOKEN"  # the FHIR server's bearer token: `seed`, `check`, `plan`
SERVICE_BEARER_ENV = "SIROLIMUS_CDS_SERVICE_BEARER"  # `check --service`: the service's bearer token
DEFAULT_TIMEOUT_SECONDS = 30.0
HOOKS = ("patient-view", "order-select", "order-sign")
DEFAULT_ISS = "https://test-ehr.invalid"  # `token`: .invalid, a name that can never be a real host


@dataclass(frozen=True)
class Command:
    """A command's entry point, `module.function(args) -> exit status`, imported when it runs."""

    module: str
    function: str

    def __call__(self, args: argparse.Namespace) -> int:
        return int(getattr(importlib.import_module(self.module), self.function)(args))


@dataclass(frozen=True)
class CommandLine:
    name: str
    help: str
    description: str | None
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Command


def add_fhir_arguments(parser: argparse.ArgumentParser, timeout_help: str) -> None:
    """The FHIR server's options; `timeout_help` says what this command's --timeout bounds."""
    parser.add_argument("--fhir-server", metavar="URL", required=True,
                        help="FHIR R4 base URL holding the patient, e.g. http://127.0.0.1:8091/fhir")
    parser.add_argument("--patient", metavar="ID", help="the Patient's id on that server")
    parser.add_argument("--token", metavar="T", default=None,
                        help=f"bearer token for the FHIR server (default: ${TOKEN_ENV}, else none); "
                        "prefer the variable, a command line is visible to other users")
    parser.add_argument("--timeout", metavar="SECONDS", type=float, default=DEFAULT_TIMEOUT_SECONDS,
                        help=timeout_help)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None,
                        help=f"the service's port on 127.0.0.1 (default ${PORT_ENV}, else 8080)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")


def add_token_arguments(parser: argparse.ArgumentParser) -> None:
    chosen = parser.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--new-key", metavar="DIR", help="make a test issuer's key pair and configuration in DIR")
    chosen.add_argument("--key", metavar="DIR", help="sign with the key made by --new-key in DIR")
    parser.add_argument("--iss", default=DEFAULT_ISS, help=f"with --new-key: the issuer name (default {DEFAULT_ISS})")
    parser.add_argument("--aud", metavar="URL", help="with --key: the exact URL the token is for, e.g. "
                        "http://127.0.0.1:8080/cds-services (public_base_url + the path called)")
    parser.add_argument("--lifetime", metavar="SECONDS", type=int, default=300,
                        help="with --key: seconds from iat to exp (default 300, the service's default maximum)")


def add_seed_arguments(parser: argparse.ArgumentParser) -> None:
    """The `seed` subcommand's options (the CLI calls run_seed(args) with the parsed result)."""
    parser.add_argument("--fhir-server", metavar="URL",
                        help="FHIR R4 base URL to upload to, e.g. http://127.0.0.1:8091/fhir")
    parser.add_argument("--token", metavar="T", default=None,
                        help=f"bearer token for the FHIR server (default: ${TOKEN_ENV}, else none)")
    parser.add_argument("--scenario", metavar="NAME", action="append", choices=scenario_names(),
                        help="upload only this scenario (repeatable; default: all)")
    parser.add_argument("--date", metavar="YYYY-MM-DD", type=date.fromisoformat, default=None,
                        help="shift the data as if today were this date (default: today)")
    parser.add_argument("--timeout", metavar="SECONDS", type=float, default=DEFAULT_TIMEOUT_SECONDS,
                        help="timeout of each FHIR request")
    parser.add_argument("--list", action="store_true",
                        help="list the scenarios and their expected outcomes, upload nothing")


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    add_fhir_arguments(parser, "seconds for each read from the FHIR server and for the call to --service; "
                       "in-process, also the service's own FHIR budget, at most 60 "
                       f"(default {DEFAULT_TIMEOUT_SECONDS:g})")
    parser.add_argument("--hook", choices=HOOKS, default="patient-view",
                        help="the hook to fire (default patient-view)")
    parser.add_argument("--draft", metavar="FILE",
                        help="draft MedicationRequest JSON for order hooks (default: the patient's current "
                        "sirolimus order as a draft, or a new order with no dose)")
    parser.add_argument("--with-prefetch", action="store_true",
                        help="fill the service's prefetch templates from the FHIR server, as the sandbox does")
    parser.add_argument("--service", metavar="URL",
                        help="call a running service at this root (e.g. http://127.0.0.1:8080) instead of "
                        "in-process")
    parser.add_argument("--bearer", metavar="JWT", default=None,
                        help=f"Authorization bearer for --service (default: ${SERVICE_BEARER_ENV}); "
                        "not needed when the service runs with --dev")
    parser.add_argument("--config", metavar="FILE",
                        help="TOML settings for the in-process service (default: $SIROLIMUS_CDS_CONFIG, else "
                        "the embedded defaults); the --fhir-server is always allowed")
    parser.add_argument("--json", action="store_true", help="print the service's response as JSON")
    parser.add_argument("--all-synthetic", action="store_true",
                        help="check every synthetic patient (as loaded by `seed`), each on its catalog hook")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    add_fhir_arguments(parser, f"seconds for each read from the FHIR server (default {DEFAULT_TIMEOUT_SECONDS:g})")
    parser.add_argument("--out", metavar="FILE", help="also draw the chart: plan.png or plan.svg")
    parser.add_argument("--json", action="store_true", help="print the schedule as JSON instead of a table")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="DATE", help="only cards shown from this day on (YYYY-MM-DD, "
                        "00:00 in the configured time zone); default: every card recorded")
    parser.add_argument("--out", metavar="FILE", help="also draw the chart: report.png or report.svg")
    parser.add_argument("--csv", metavar="FILE", help="also write the numbers as CSV")
    parser.add_argument("--config", help="TOML configuration file naming the database (default: "
                        "$SIROLIMUS_CDS_CONFIG, else the embedded defaults; $SIROLIMUS_CDS_DATABASE_URL overrides)")


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--patients", type=int, default=50, help="children per arm (default 50)")
    parser.add_argument("--months", type=int, default=24, help="months of follow-up (default 24)")
    parser.add_argument("--protocol", action="append", choices=ARMS, default=None,
                        help="an arm to simulate (repeatable; default: all three)")
    parser.add_argument("--seed", type=int, default=16, help="random seed (default 16)")
    parser.add_argument("--out", type=Path, default=None, help="write the chart of doses and troughs (PNG)")


TOOLKIT = (
    CommandLine("demo", "try it: a local FHIR server with the synthetic patients and the service, JWT off, all "
                "on 127.0.0.1; prints a curl, the check command and a decision page",
                "Start a local FHIR R4 server (sekmet-fhir, the [demo] extra), load the synthetic patients, and "
                "run the service allowed to read it, JWT off, on 127.0.0.1. Ctrl-C stops everything.",
                add_demo_arguments, Command("cds_service.cli.demo", "run_demo")),
    CommandLine("token", "a test issuer: make a key pair and its [[auth.issuers]] block (--new-key DIR), or sign "
                "a JWT for a call (--key DIR --aud URL)",
                "Exercise the JWT path without an EHR: a local ES384 key pair whose public key set the service "
                "trusts as a pinned jwks_file, and tokens signed with it.",
                add_token_arguments, Command("cds_service.cli.token", "run_token")),
    CommandLine("seed", "upload the synthetic patients to a FHIR server",
                "Upload the synthetic patients (each a scenario with its expected outcome) to a FHIR R4 server.",
                add_seed_arguments, Command("cds_service.synthetic.seed", "run_seed")),
    CommandLine("check", "call the service for a patient as an EHR would and show the cards",
                "Build a hook request for a patient on a FHIR server, call the service (in-process, or a running "
                "one with --service) and print the cards.",
                add_check_arguments, Command("cds_service.cli.check", "run_check")),
    CommandLine("plan", "show a patient's projected taper schedule (table, and chart with --out)",
                "Read a patient from a FHIR server, decide in-process and print the projected taper schedule.",
                add_plan_arguments, Command("cds_service.cli.plan", "run_plan")),
    CommandLine("report", "card outcomes for clinical governance: shown, accepted, overridden, ignored, time to "
                "feedback (table; chart with --out, CSV with --csv)",
                "Count, per card kind and indicator, the cards shown and their feedback from the service's "
                "database (audit trail and feedback tables).",
                add_report_arguments, Command("cds_service.cli.report", "run_report")),
    CommandLine("simulate", "a virtual cohort following each protocol with the service's own decisions (table; "
                "chart with --out)",
                "Simulate children on each protocol, visit by visit, decided by the service's own code path; "
                "print the cohort's figures with 95 % intervals.",
                add_simulate_arguments, Command("cds_service.simulation.command", "run_simulate")),
)


def add_toolkit_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The integrator toolkit's commands: help and options now, the implementation when one runs."""
    for command in TOOLKIT:
        parser = sub.add_parser(command.name, help=command.help, description=command.description)
        command.add_arguments(parser)
        parser.set_defaults(func=command.run)
