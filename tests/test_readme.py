"""The README's two commands are the ones CI and users run; keep them true."""

import re

from bench.core.config import PROJECT_ROOT


def readme_commands() -> list[str]:
    text = (PROJECT_ROOT / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", text, flags=re.S).group(1)
    return [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]


def test_readme_starts_with_bench_and_test():
    assert readme_commands() == ["make bench", "make test"]


def test_ci_runs_the_readme_test_command():
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    command = re.search(r'^TEST_COMMAND="(.*)"$', ci, flags=re.M).group(1)
    assert command == readme_commands()[1]


def test_makefile_targets_exist():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    for target in ("bench", "test"):
        assert re.search(rf"^{target}:", makefile, flags=re.M)
