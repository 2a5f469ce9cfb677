"""Mutation testing (cosmic-ray) over the modules that guard data and access; prints killed/survived per module.

    python tests/mutation/run.py                 # every target below
    python tests/mutation/run.py ranges access   # some of them (by name)

Each target is one module and the fast test selection that should kill its mutants: unit tests where they
exist, a small integration subset otherwise. Integration tests start the server as a subprocess; it imports
the mutated module because the run happens in a copy of the repository whose src/ comes first on PYTHONPATH
(checked before anything runs). cosmic-ray mutates that copy in place, never this checkout.

Operators are thinned to the classic, meaningful set: a comparison flips to its negation or its boundary twin
(== / !=, < / <=, > / >=, is / is not, in / not in), an arithmetic operator becomes `-` (or `-` becomes `+`),
plus every non-operator mutation (not, and/or, True/False, numbers, loops, exceptions, decorators). `|` is left
alone: here it is almost always a type union (`X | None`), where a mutation changes nothing.
Results land in build/mutation/: one cosmic-ray session per module and report.md (copied to docs/testing.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OUT = ROOT / "build" / "mutation"

KEEP_COMPARISONS = "Eq_NotEq|NotEq_Eq|Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Is_IsNot|IsNot_Is|In_NotIn|NotIn_In"
EXCLUDED_OPERATORS = [
    rf"core/ReplaceComparisonOperator_(?!({KEEP_COMPARISONS})$)",
    r"core/ReplaceBinaryOperator_BitOr_",
    r"core/ReplaceBinaryOperator_(?!Sub_Add$)\w+_(?!Sub$)\w+$",
]


@dataclass(frozen=True)
class Target:
    name: str
    module: str  # path under src/modelyard
    tests: str  # pytest arguments
    timeout: float  # seconds per mutant before it counts as killed (a hang)


BLOB_TESTS = "tests/unit/test_blob_store.py tests/unit/test_multipart_parts.py"
LINEAGE_TESTS = "tests/unit/test_license_rules.py tests/unit/test_model_ancestry.py"
TARGETS = [
    Target("ranges", "domain/ranges.py", "tests/unit/test_ranges.py tests/unit/test_domain_formats.py -k range", 30),
    Target(
        "file_check",
        "domain/xet/file_check.py",
        "tests/unit/test_xet_shard.py tests/unit/test_xet_file_check_edges.py",
        60,
    ),
    Target(
        "commit_ops",
        "domain/commit_ops.py",
        "tests/unit/test_commit_ops.py tests/unit/test_domain_formats.py tests/unit/test_input_robustness.py",
        60,
    ),
    Target("blob_store", "blobs/local.py", BLOB_TESTS, 60),
    Target("blob_files", "blobs/files.py", BLOB_TESTS, 60),
    Target("blob_multipart", "blobs/multipart.py", BLOB_TESTS, 60),
    Target("xorb_store", "blobs/xorbs.py", "tests/unit/test_xorb_store.py tests/integration/test_xet_storage.py", 120),
    Target(
        "commits",
        "services/commits.py",
        "tests/integration/test_commits.py tests/integration/test_bad_input.py "
        "tests/integration/test_integrity.py::test_a_commit_naming_a_false_xet_claim_is_refused "
        "tests/integration/test_concurrency.py::test_stale_parent_still_gets_412_while_others_commit "
        "tests/integration/test_security.py::test_pointer_text_in_a_regular_file_does_not_reach_another_repos_blob "
        "tests/integration/test_robustness.py::test_a_commit_of_an_unparsable_card_is_refused",
        240,
    ),
    Target("push", "services/push.py", "tests/unit/test_push_checks.py", 120),
    Target("license_lineage", "domain/license_lineage.py", LINEAGE_TESTS, 30),
    Target("model_ancestry", "domain/model_ancestry.py", LINEAGE_TESTS, 30),
    Target(
        "access",
        "services/access.py",
        "tests/unit/test_access_policy.py tests/integration/test_repo_listings.py tests/integration/test_repos.py "
        "tests/integration/test_bad_input.py -k 'access_policy or (listing and model) or (search and model) "
        "or invisible or create_private or other_user_cannot or read_only or anonymous_and_bad_token'",
        240,
    ),
]


def _copy_repo(dest: Path) -> None:
    for name in ("src", "tests"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")


def _env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(copy / "src")
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # third-party plugins cost seconds per run and no test uses them
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant's bytecode must never be reused for the next one
    return env


def _check_imports_copy(copy: Path, env: dict[str, str]) -> None:
    """The tests, and the server they start, must import the mutated copy, not an installed modelyard."""
    code = "import modelyard, sys; sys.stdout.write(modelyard.__file__)"
    where = subprocess.run([sys.executable, "-c", code], env=env, cwd=copy, capture_output=True, text=True)
    if not where.stdout.startswith(str(copy / "src")):
        sys.exit(f"modelyard is imported from {where.stdout or where.stderr!r}, not from the copy {copy}/src")


def _config(copy: Path, target: Target) -> Path:
    command = f"{sys.executable} -m pytest -x -q -p no:cacheprovider {target.tests}"
    excluded = ", ".join(json.dumps(e) for e in EXCLUDED_OPERATORS)
    text = (
        "[cosmic-ray]\n"
        f'module-path = "src/modelyard/{target.module}"\n'
        f"timeout = {target.timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{excluded}]\n"
    )
    path = copy / f"cosmic-ray-{target.name}.toml"
    path.write_text(text)
    return path


def _run(args: list[str], copy: Path, env: dict[str, str]) -> None:
    subprocess.run(args, cwd=copy, env=env, check=True, stdout=subprocess.DEVNULL)


def _results(session: Path, copy: Path, env: dict[str, str]) -> list[tuple[dict, dict | None]]:
    dump = subprocess.run(
        [str(BIN / "cosmic-ray"), "dump", str(session)], cwd=copy, env=env, check=True, capture_output=True, text=True
    )
    return [tuple(json.loads(line)) for line in dump.stdout.splitlines() if line.strip()]


def _mutant(item: dict, result: dict | None) -> str:
    (mutation,) = item["mutations"]
    line = mutation["start_pos"][0]
    diff = (result or {}).get("diff") or ""
    changed = [d[1:].strip() for d in diff.splitlines() if d.startswith("+") and not d.startswith("+++")]
    return f"line {line}: {mutation['operator_name'].removeprefix('core/')} -> `{' / '.join(changed)}`"


def run_target(target: Target, copy: Path, env: dict[str, str]) -> dict:
    session = OUT / f"{target.name}.sqlite"
    session.unlink(missing_ok=True)
    config = _config(copy, target)
    started = time.monotonic()
    _run([str(BIN / "cosmic-ray"), "init", str(config), str(session)], copy, env)
    _run([str(BIN / "cr-filter-operators"), str(session), str(config)], copy, env)
    _run([str(BIN / "cosmic-ray"), "baseline", str(config)], copy, env)  # the selection passes unmutated
    _run([str(BIN / "cosmic-ray"), "exec", str(config), str(session)], copy, env)
    counts = {"killed": 0, "survived": 0, "incompetent": 0, "skipped": 0}
    survivors = []
    for item, result in _results(session, copy, env):
        if result is None or result.get("worker_outcome") == "skipped":
            counts["skipped"] += 1
        elif result["test_outcome"] == "survived":
            counts["survived"] += 1
            survivors.append(_mutant(item, result))
        else:
            counts[result["test_outcome"]] += 1
    return {"target": target, "counts": counts, "survivors": survivors, "seconds": time.monotonic() - started}


def report(results: list[dict], commit: str) -> str:
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Run {date} on commit {commit}: `make mutation` (cosmic-ray, thinned operators).",
        "",
        "| module | tests | mutants | killed | survived | minutes |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        c, t = r["counts"], r["target"]
        tested = c["killed"] + c["survived"] + c["incompetent"]
        lines.append(
            f"| {t.module} | `{t.tests}` | {tested} | {c['killed'] + c['incompetent']} | {c['survived']} | "
            f"{r['seconds'] / 60:.1f} |"
        )
    for r in results:
        if r["survivors"]:
            lines += ["", f"Survivors in {r['target'].module}:"] + [f"- {s}" for s in r["survivors"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"targets to run (default: all): {[t.name for t in TARGETS]}")
    args = parser.parse_args()
    unknown = set(args.names) - {t.name for t in TARGETS}
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}")
    targets = [t for t in TARGETS if not args.names or t.name in args.names]
    OUT.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    with tempfile.TemporaryDirectory(prefix="modelyard-mutation-") as tmp:
        copy = Path(tmp)
        _copy_repo(copy)
        env = _env(copy)
        _check_imports_copy(copy, env)
        results = []
        for target in targets:
            result = run_target(target, copy, env)
            c = result["counts"]
            print(
                f"{target.module}: {c['killed'] + c['incompetent']} killed, {c['survived']} survived "
                f"({result['seconds'] / 60:.1f} min)",
                flush=True,
            )
            for survivor in result["survivors"]:
                print(f"  survived {survivor}", flush=True)
            results.append(result)
    text = report(results, commit.stdout.strip() or "unknown")
    (OUT / "report.md").write_text(text)
    print(f"\n{text}\nWritten to {OUT / 'report.md'}")


if __name__ == "__main__":
    main()
