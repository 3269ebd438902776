"""`make mutation [MODULES=http,providers.cdp]`: mutmut over the layer's modules (mutation/modules.py), each against
the tests that cover it; a table of killed / survived / timed out per module, and a report in .mutation/.

mutmut 3 imports the code it mutates as the tests do only from the project's root (or src/): each module is run in
a workspace of its own, .mutation/<module>/, a copy of the project with the layer's package at its root. A mutant
is detected when a test fails, the tests time out, or they crash; a survivor either gets a test that kills it, or,
when no test should (an equivalent mutant: it changes nothing a caller or an operator could see), a line in
mutation/equivalent-mutants.toml saying why. Exit 1 when a module misses its goal or a survivor is not listed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from mutation.modules import BY_SLUG, MODULES, MutatedModule

ROOT = Path(__file__).resolve().parents[1]
LAYER_PACKAGE = ROOT / "layers" / "gateway" / "kyc_gateway"
OUTPUT = ROOT / ".mutation"
EQUIVALENTS = Path(__file__).with_name("equivalent-mutants.toml")
DETECTED = {1, 3, 36, 24, -24, 152, 255, 37, -11, -9}  # killed, timed out, caught, crashed (mutmut's exit codes)
TIMED_OUT = {36, 24, -24, 152, 255}


@dataclass(frozen=True)
class Mutant:
    name: str  # mutmut's: kyc_gateway.http.xǁProviderHttpǁpost__mutmut_8
    function: str  # ProviderHttp.post
    status: str  # killed, timeout, survived, listed (an equivalent survivor), no tests
    original: str = ""  # the changed line, before and after (survivors only)
    mutated: str = ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mutation", description=__doc__.splitlines()[0])
    parser.add_argument("--modules", help="comma-separated, e.g. http,providers.cdp (default: every module)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    arguments = parser.parse_args(argv)
    chosen = _chosen(parser, arguments.modules)
    equivalents = load_equivalents()
    results = {module.slug: mutate(module, arguments.max_children, equivalents) for module in chosen}
    failures = report(results)
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


def _chosen(parser: argparse.ArgumentParser, modules: str | None) -> list[MutatedModule]:
    if not modules:
        return list(MODULES)
    names = [name.strip().removesuffix(".py").replace("/", ".") for name in modules.split(",") if name.strip()]
    unknown = [name for name in names if name not in BY_SLUG]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(BY_SLUG)}")
    return [BY_SLUG[name] for name in names]


# --- one module ----------------------------------------------------------------------------------------------------


def mutate(module: MutatedModule, max_children: int, equivalents: set[tuple[str, str, str, str]]) -> list[Mutant]:
    workspace = prepare(module)
    print(f"mutating kyc_gateway/{module.path} against {', '.join(module.tests)}", flush=True)
    run = subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)],
        cwd=workspace,
        stdout=subprocess.DEVNULL,  # a progress line redrawn thousands of times
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    meta = workspace / "mutants" / "kyc_gateway" / f"{module.path}.meta"
    if not meta.exists():
        raise SystemExit(f"mutmut did not run on {module.path} (exit {run.returncode}):\n{run.stderr[-3000:]}")
    exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
    if exit_codes and all(code is None for code in exit_codes.values()):  # it stopped before any mutant (a clean
        # run of the tests failed: a test that fails without any mutant proves nothing about them)
        raise SystemExit(f"mutmut ran no mutant of {module.path} (exit {run.returncode}):\n{run.stderr[-3000:]}")
    return [_mutant(workspace, module, name, code, equivalents) for name, code in sorted(exit_codes.items())]


def prepare(module: MutatedModule) -> Path:
    """A fresh copy of the project (what git tracks or would track) with the layer's package at its root, and
    mutmut configured for `module` and its tests."""
    workspace = OUTPUT / module.slug
    shutil.rmtree(workspace, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],  # noqa: S607 - this repository's git
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = ROOT / relative
        if source.is_file():
            target = workspace / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    shutil.copytree(LAYER_PACKAGE, workspace / "kyc_gateway", ignore=shutil.ignore_patterns("__pycache__"))
    pyproject = workspace / "pyproject.toml"
    text = pyproject.read_text().replace('pythonpath = ["layers/gateway", ', "pythonpath = [")
    also_copy = sorted(path.name for path in workspace.iterdir() if path.name not in ("kyc_gateway", "tests"))
    pyproject.write_text(text + _mutmut_section(module, also_copy))
    # mutmut runs the tests from mutants/: the drills that read the transformed template need SAM's own venv there
    (workspace / "mutants").mkdir()
    (workspace / "mutants" / ".venv-sam").symlink_to(ROOT / ".venv-sam", target_is_directory=True)
    return workspace


def _mutmut_section(module: MutatedModule, also_copy: list[str]) -> str:
    section = {
        "source_paths": ["kyc_gateway"],
        "only_mutate": [f"kyc_gateway/{module.path}"],
        "also_copy": also_copy,
        "pytest_add_cli_args": ["-n", "0", "-q"],  # mutmut runs mutants side by side itself
        "pytest_add_cli_args_test_selection": list(module.tests),
    }
    return "\n[tool.mutmut]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in section.items())


def _mutant(
    workspace: Path, module: MutatedModule, name: str, code: int | None, equivalents: set[tuple[str, str, str, str]]
) -> Mutant:
    function = readable_function(name)
    if code in DETECTED:
        return Mutant(name, function, "timeout" if code in TIMED_OUT else "killed")
    original, mutated = changed_line(workspace, name)
    listed = (module.path, function, original, mutated) in equivalents
    status = "listed" if listed else ("survived" if code == 0 else "no tests")
    return Mutant(name, function, status, original, mutated)


def readable_function(name: str) -> str:
    """`kyc_gateway.http.xǁProviderHttpǁpost__mutmut_8` -> `ProviderHttp.post`; `...x__maybe_done__mutmut_2` ->
    `_maybe_done`."""
    mangled = name.rsplit(".", 1)[1].rsplit("__mutmut_", 1)[0]
    if mangled.startswith("xǁ"):
        return mangled.removeprefix("xǁ").replace("ǁ", ".")
    return mangled.removeprefix("x_")


def changed_line(workspace: Path, name: str) -> tuple[str, str]:
    """The line the mutant changes, before and after (mutmut's diff, stripped)."""
    shown = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name], cwd=workspace, capture_output=True, text=True, check=False
    ).stdout.splitlines()
    removed = [line[1:].strip() for line in shown if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in shown if line.startswith("+") and not line.startswith("+++")]
    return " / ".join(removed), " / ".join(added)


# --- equivalent mutants ---------------------------------------------------------------------------------------------


def load_equivalents(path: Path = EQUIVALENTS) -> set[tuple[str, str, str, str]]:
    """(module, function, original line, mutated line) of every listed survivor; each entry must say why."""
    entries = tomllib.loads(path.read_text()).get("mutant", [])
    for entry in entries:
        if not str(entry.get("why", "")).strip():
            raise SystemExit(f"{path.name}: {entry.get('module')} {entry.get('function')} lists no reason (why)")
    return {(entry["module"], entry["function"], entry["original"], entry["mutated"]) for entry in entries}


# --- report --------------------------------------------------------------------------------------------------------


def report(results: dict[str, list[Mutant]]) -> list[str]:
    """Print the table, write .mutation/report.json and report.md; the failures (a goal missed, an unlisted
    survivor)."""
    failures, rows = [], []
    for slug, mutants in results.items():
        module = BY_SLUG[slug]
        counts = {status: sum(m.status == status for m in mutants) for status in STATUSES}
        detected = counts["killed"] + counts["timeout"]
        score = detected / len(mutants) if mutants else 1.0
        rows.append((module.path, len(mutants), counts, score, module.goal))
        if score < module.goal:
            failures.append(f"{module.path}: {score:.1%} of mutants killed, goal {module.goal:.0%}")
        failures += [
            f"{module.path}: {m.status} {m.name} ({m.function}): `{m.original}` -> `{m.mutated}`"
            for m in mutants
            if m.status in ("survived", "no tests")
        ]
    table = _table(rows)
    print(table)
    OUTPUT.mkdir(exist_ok=True)
    date = datetime.now(UTC).date().isoformat()
    (OUTPUT / "report.md").write_text(
        f"# Mutation testing, {date}\n\n{table}\n" + "".join(f"- {f}\n" for f in failures)
    )
    detail = {slug: [asdict(m) for m in mutants] for slug, mutants in results.items()}
    (OUTPUT / "report.json").write_text(json.dumps({"date": date, "modules": detail}, indent=1, ensure_ascii=False))
    return failures


STATUSES = ("killed", "timeout", "listed", "survived", "no tests")


def _table(rows: list[tuple[str, int, dict[str, int], float, float]]) -> str:
    header = "| module | mutants | killed | timed out | equivalent (listed) | survived | no tests | score | goal |"
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for path, total, counts, score, goal in rows:
        cells = [str(counts[status]) for status in STATUSES]
        lines.append(f"| {path} | {total} | {' | '.join(cells)} | {score:.1%} | {goal:.0%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
