"""The README's two set-up commands are the ones CI runs."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", setup)


def test_readme_starts_with_exactly_two_commands_demo_and_test():
    commands = readme_commands()
    assert len(commands) == 2
    # one line: the install with the local FHIR server, and the demo (tests/e2e/test_demo_fresh_venv.py runs it)
    assert commands[0] == "python -m pip install '.[demo]' && sirolimus-cds demo"
    assert "[test]" in commands[1] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci_lines
