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


def test_every_readme_serve_with_a_config_is_preceded_by_db_upgrade_and_the_config_is_written_first():
    """`serve` refuses a database without the schema, and a top-level key appended after an
    [[auth.issuers]] table belongs to that table: a README block a newcomer copies must work as is."""
    blocks = re.findall(r"```[a-z]*\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    for block in (b for b in blocks if re.search(r"sirolimus-cds serve --config (\S+)", b)):
        config = re.search(r"sirolimus-cds serve --config (\S+)", block).group(1)
        upgrade = block.find(f"sirolimus-cds db upgrade --config {config}")
        assert 0 <= upgrade < block.find(f"sirolimus-cds serve --config {config}"), block
        appended = block.find(f">> {config}")
        assert appended < 0 or 0 <= block.find(f"> {config}") < appended, block
