"""What a newcomer reads first (#15): each command's help says what it does and is true of it, and the
demo says where each answer's decision page is."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from cds_service.cli import main

COMMANDS = (("serve",), ("db",), ("db", "upgrade"), ("db", "purge"), ("demo",), ("token",), ("seed",), ("check",),
            ("plan",), ("report",), ("simulate",))


def _help(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def _option_help(text: str, option: str) -> str:
    """The help of `option` in a command's --help, its lines joined."""
    block = re.search(rf"^  {re.escape(option)}\b.*?(?=^  -|\Z)", text, re.S | re.M)
    assert block, option
    return " ".join(block.group(0).split())


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_help_has_a_description_line(capsys, command):
    text = _help(capsys, *command)
    after_usage = text.split("\n\n")[1]  # the description, else the first list of arguments
    assert not after_usage.startswith(("positional arguments:", "options:")), f"`{' '.join(command)} --help`"


def test_serve_config_help_says_the_embedded_defaults_need_dev_or_an_issuer(capsys, monkeypatch):
    config_help = _option_help(_help(capsys, "serve"), "--config")
    assert "--dev" in config_help and "--trust-sandbox" in config_help and "[[auth.issuers]]" in config_help
    # and it is true: with the embedded defaults, serve refuses; with --dev it would go on
    monkeypatch.delenv("SIROLIMUS_CDS_CONFIG", raising=False)
    assert main(["serve", "--port", "0"]) == 2
    assert "no issuer is trusted" in capsys.readouterr().err


def test_each_command_timeout_help_is_about_its_own_timeout(capsys):
    plan = _option_help(_help(capsys, "plan"), "--timeout")
    check = _option_help(_help(capsys, "check"), "--timeout")
    assert "check" not in plan and "in-process" not in plan and "FHIR server" in plan
    assert "in-process" in check and "at most 60" in check and "--service" in check


def test_demo_says_the_curl_answer_links_its_own_decision_page(tmp_path: Path):
    from cds_service.cli.demo import DemoCall, next_steps
    from cds_service.cli.local_fhir import FhirServer

    call = DemoCall(service_id="sirolimus-order-select", request_file=tmp_path / "r.json",
                    decision_page="http://127.0.0.1:8080/decisions/abc", cards=1)
    fhir = FhirServer(base_url="http://127.0.0.1:8091/fhir", token="", process=None, workdir=tmp_path)  # type: ignore[arg-type]
    text = next_steps(call, fhir, 8080)
    assert "http://127.0.0.1:8080/decisions/abc" in text
    assert "each answer's cards link their own decision page (links[].url)" in text


@pytest.mark.parametrize("busy", ["--port", "--metrics-port"])
def test_serve_dev_on_a_busy_port_is_one_line_and_leaves_no_database(tmp_path: Path, monkeypatch, capsys, busy):
    import socket

    monkeypatch.delenv("SIROLIMUS_CDS_CONFIG", raising=False)
    monkeypatch.delenv("SIROLIMUS_CDS_DATABASE_URL", raising=False)
    monkeypatch.delenv("SIROLIMUS_CDS_METRICS_PORT", raising=False)
    monkeypatch.chdir(tmp_path)  # the embedded default database is ./sirolimus-cds.db
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = ["--port", str(port)] if busy == "--port" else ["--port", "0", "--metrics-port", str(port)]
        assert main(["serve", "--dev", *ports]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot listen on 127.0.0.1:{port}" in err[0]
    assert list(tmp_path.iterdir()) == []
