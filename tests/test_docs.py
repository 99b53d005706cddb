"""The commands the README and the guides show: each names a real command with real flags, and the README's
"Try it" block runs as written on this machine. The site itself is built with --strict by `make test`."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from wattbench.cli import _register, app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUNS_HERE = "<!-- runs in tests/test_docs.py -->"


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """(the line before the fence, the block's lines) of every ```bash block."""
    out, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```bash":
            start, i = i, i + 1
            body = []
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            out.append((lines[start - 1] if start else "", body))
        i += 1
    return out


def _commands(body: list[str]) -> list[str]:
    """The `wattbench ...` lines of a block, continuations joined, comments dropped."""
    joined, out = [], []
    for line in body:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line.strip())
    for line in joined:
        line = re.sub(r"\s+#.*$", "", line)
        if line.startswith("wattbench "):
            out.append(line)
    return out


def _documented() -> list[tuple[str, str]]:
    return [(path.name, command) for path in DOCS for _, body in _blocks(path.read_text()) for command in
            _commands(body)]  # fmt: skip


def _cli():
    """The click group behind `wattbench` (typer's own click: commands and params, duck-typed)."""
    _register()
    return typer.main.get_command(app)


def _resolve(group, words: list[str]):
    """The (sub)command the words name, and the words after it."""
    command = group
    while words and hasattr(command, "commands") and words[0] in command.commands:
        command = command.commands[words[0]]
        words = words[1:]
    return command, words


def test_the_docs_show_commands():
    commands = _documented()
    assert len(commands) > 60 and {c.split()[1] for _, c in commands} >= {"run", "batch", "score", "benchmark"}


@pytest.mark.parametrize(("page", "command"), _documented())
def test_each_documented_command_and_flag_exists(page: str, command: str):
    group = _cli()
    words = shlex.split(command.replace("[", " ").replace("]", " ").replace("|", " "))[1:]
    found, rest = _resolve(group, words)
    assert found is not group, f"{page}: `{command}` names no command"
    if hasattr(found, "commands"):
        return  # `wattbench data ...` written as a group: its commands are shown elsewhere
    flags = {opt for param in found.params for opt in (*param.opts, *param.secondary_opts)}
    for word in rest:
        flag = word.split("=", 1)[0]
        if re.fullmatch(r"--?[a-z][a-z0-9-]*", flag):
            assert flag in flags, f"{page}: `{command}`: {flag} is not an option of `{found.name}`"


def _try_it() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = [body for before, body in _blocks(text) if before.strip() == RUNS_HERE]
    assert len(blocks) == 1, "the README has one block marked to run in the tests"
    return _commands(blocks[0])


@pytest.mark.slow
def test_the_readmes_try_it_block_runs_as_written(data_dir: Path, tmp_path: Path):
    (tmp_path / "data").symlink_to(data_dir.resolve())
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    wattbench = str(Path(sys.executable).with_name("wattbench"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for command in _try_it():
        words = shlex.split(command)
        done = subprocess.run([wattbench, *words[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        assert done.returncode == 0, f"`{command}` exited {done.returncode}: {done.stdout[-1500:]}{done.stderr[-1500:]}"
    assert (tmp_path / "artifacts" / "experiments" / "first-try" / "summary.json").exists()


def test_the_readmes_run_config_is_a_valid_run_config(tmp_path: Path):
    from wattbench.runs.checks import load_run_config

    text = (ROOT / "README.md").read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "run.toml").write_text(block)
    config, _ = load_run_config(tmp_path / "run.toml", {})
    assert config.provider == "hf" and config.generation.dtype == "bf16"


def _toml_blocks(page: Path) -> list[str]:
    return [part.split("```", 1)[0] for part in page.read_text().split("```toml\n")[1:]]


def test_every_settings_file_in_the_guides_loads_as_its_command_reads_it(tmp_path: Path):
    """A TOML block in a guide is a file its command takes: it loads with that command's loader, as written."""
    import tomllib

    from wattbench.config import load_batch_config, load_benchmark_config
    from wattbench.runs.checks import load_run_config

    loaders = {
        "batch.md": lambda path: load_batch_config(path),
        "bedrock.md": lambda path: load_run_config(path, {})[0],
        "many-runs.md": lambda path: load_benchmark_config(path, {}),
        "comparing.md": lambda path: tomllib.loads(path.read_text())["models"],  # a model_sizes.toml table
    }
    pages = {page.name: page for page in (ROOT / "docs" / "guides").glob("*.md") if _toml_blocks(page)}
    assert set(pages) == set(loaders), "a guide with a TOML block needs its loader here"
    for name, page in pages.items():
        for number, block in enumerate(_toml_blocks(page)):
            path = tmp_path / f"{page.stem}-{number}.toml"
            path.write_text(block)
            assert loaders[name](path), f"{page}: block {number}"
    batch = load_batch_config(tmp_path / "batch-0.toml")
    assert batch.backend == "hf" and batch.generation.dtype == "bf16" and batch.energy.idle_seconds == 10
