"""The recipes (``examples/recipes/``: Flask, Django, FastAPI) pass, each as the project a user
would copy: its own pytest run from its own folder, under its own ``pytest.ini`` and
``conftest.py``, with the plugin loaded through its entry point.

posthog-js comes from this repository's ``fixtures/node_modules`` through
``HYBRID_ANALYTICS_POSTHOG_JS`` (the recipes name no path). The runs start together and overlap;
each test then reads one run's outcome."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "examples" / "recipes"
POSTHOG_JS = ROOT / "fixtures" / "node_modules" / "posthog-js"

#: Each recipe's tests, all of which must pass.
EXPECTED = {"flask": 4, "django": 3, "fastapi": 3}

#: What this suite's own run puts in the environment, which a user's run would not have.
NOT_INHERITED = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER")


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Every recipe's run, started at once (a pytest subprocess each, from its folder)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(NOT_INHERITED)}
    env["HYBRID_ANALYTICS_POSTHOG_JS"] = str(POSTHOG_JS)
    started = {
        recipe: subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
            cwd=RECIPES / recipe,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for recipe in EXPECTED
    }
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_each_recipe_has_its_own_project_files() -> None:
    folders = [path.name for path in RECIPES.iterdir() if path.is_dir()]
    assert sorted(name for name in folders if not name.startswith(("_", "."))) == sorted(EXPECTED)
    for recipe in EXPECTED:
        folder = RECIPES / recipe
        for name in ("pytest.ini", "conftest.py", "README.md", "requirements.txt"):
            assert (folder / name).is_file(), f"{recipe}/{name}"
        for path in [*folder.rglob("*.py"), *folder.rglob("*.ini")]:
            assert "node_modules" not in path.read_text(), f"{path} names a posthog-js path"


@pytest.mark.parametrize("recipe", sorted(EXPECTED))
def test_each_recipe_passes_as_a_user_runs_it(
    runs: dict[str, subprocess.Popen[str]], recipe: str
) -> None:
    output, _ = runs[recipe].communicate(timeout=300)
    print(output)  # the whole run, in the report if this fails
    result = pytest.RunResult(runs[recipe].returncode, output.splitlines(), [], 0)
    result.assert_outcomes(passed=EXPECTED[recipe], warnings=0)
    assert result.ret == 0
    # Its own settings, and the plugin through its entry point (no -p, no conftest import).
    result.stdout.fnmatch_lines(
        [
            f"rootdir: {RECIPES / recipe}",
            "configfile: pytest.ini",
            "plugins: *hybrid-analytics-*",
        ]
    )
