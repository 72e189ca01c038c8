"""Mutation score of the modules a published number passes through, by mutmut (issue 19).

mutmut (`pip install -e ".[mutation]"`) rewrites every function of the modules `[tool.mutmut]
only_mutate` in pyproject.toml names into many one-token variants (an operator, a constant, a
keyword argument, a string) and runs, for each variant, only the tests that reached that function
when the selected tests ran once unmutated (`pytest_add_cli_args_test_selection`: the suite without
the `slow` tests and the repository-level ones). A variant is killed when one of those tests fails.

This script runs mutmut on the chosen modules (niced, one worker, so the machine stays usable) and
prints, per module and overall, the score: killed / (mutants − those listed as equivalent in
benchmarks/equivalent_mutants.md), and every surviving mutant with its diff. mutmut keeps its work
in mutants/ (git-ignored); after new tests, `--unkilled` reruns only the survivors. A full run of the
5,777 mutants takes hours on two shared cores (see README, "Mutation score"): run it, or a sample,
before a release, not in CI.

    python benchmarks/mutation_run.py                   # every module; scores and survivors
    python benchmarks/mutation_run.py stats io          # only these modules
    python benchmarks/mutation_run.py --every 12        # a sample: mutants 1, 13, 25, … of each function
    python benchmarks/mutation_run.py --unkilled        # after adding tests: rerun only the survivors
    python benchmarks/mutation_run.py --report          # the scores of the last run, running nothing
    python benchmarks/mutation_run.py --report --diffs  # ... with each survivor's diff
    python benchmarks/mutation_run.py --every 12 --targeted runner  # the sample's unrun mutants,
                                                        # each against its module's own test files

`--targeted` is for the mutants whose functions the solver's end-to-end tests reach (minutes of
tests each in mutmut's selection): it runs each sampled mutant not run yet with `MUTANT_UNDER_TEST`
and `pytest -x -m "not slow"` over only its module's test files (MODULE_TESTS), two at a time, and
records the verdict in mutmut's record, where `--report` reads it. A mutant a subset of the suite
kills, mutmut's selection kills too; one the subset does not kill is recorded as a survivor (it may
be killed by tests outside the subset: `--unkilled` reruns it under mutmut's selection, `--targeted
--unkilled` against the module's files again), so the method is conservative.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EQUIVALENTS = REPO / "benchmarks" / "equivalent_mutants.md"
# A line of the equivalents list: "- `ngbench.stats.x_holm__mutmut_3`: why no test can tell it apart".
EQUIVALENT_LINE = re.compile(r"^- `(ngbench\.[\w.]+__mutmut_\d+)`: (.+)$")
# mutmut from the same environment as this script's Python.
MUTMUT = str(Path(sys.executable).parent / "mutmut")
KILLED = {"killed", "timeout"}  # a mutant that makes a test hang is caught by the time limit
NOT_RUN = {"not checked", "skipped"}

# A module → the test files that exercise it directly, for `--targeted` (paths under tests/). Each
# list is a subset of mutmut's selection for the module's functions, so a kill here is a kill there.
MODULE_TESTS = {
    "ngbench.runner": (
        "test_runner_faults.py",
        "test_runner_invariants.py",
        "test_runner.py",
        "test_stop_at_target.py",
        "test_faults.py",
        "test_progress.py",
        "test_one_method_rows.py",
    ),
    "ngbench.methods": (
        "test_methods.py",
        "test_method_objects.py",
        "test_method_settings.py",
        "test_runner_invariants.py",
        "test_faults.py",
        "test_runner_faults.py",
        "test_config.py",
        "test_config_checks.py",
        "test_progress_methods.py",
        "test_method_names.py",
    ),
    "ngbench.solve": (
        "test_summaries.py",
        "test_io.py",
        "test_runner.py",
        "test_stop_at_target.py",
        "test_recovery.py",
        "test_faults.py",
        "test_progress.py",
        "test_one_method_rows.py",
        "test_jobs.py",
        "test_source_revision.py",
        "test_solve_logs.py",
    ),
    "ngbench.io": ("test_io.py", "test_summaries.py", "test_recovery.py", "test_stats.py"),
    "ngbench.experiments": (
        "test_config.py",
        "test_config_checks.py",
        "test_sweeps.py",
        "test_plugins.py",
        "test_jobs.py",
        "test_ledger.py",
        "test_one_method_rows.py",
        "test_progress.py",
        "test_config_edges.py",
        "test_stop_at_target.py",
    ),
    "ngbench.jobs": ("test_jobs.py", "test_config.py", "test_job_params.py"),
    "ngbench.starts": ("test_starts.py", "test_config.py", "test_gaussian_nd.py"),
    "ngbench.sweeps": ("test_sweeps.py", "test_config.py"),
}
TARGETED_LOG = REPO / "mutants" / "targeted.jsonl"  # one line per mutant run by --targeted


def configured_modules() -> list[str]:
    """The modules pyproject.toml's [tool.mutmut] mutates, as `ngbench.<name>`."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]
    return ["ngbench." + Path(path).stem for path in config["only_mutate"] if path.startswith("src/ngbench/")]


def mutant_number(name: str) -> int:
    """N of `ngbench.module.x_function__mutmut_N`: mutmut numbers each function's mutants from 1."""
    return int(name.rsplit("_", 1)[1])


def equivalent_mutants() -> dict[str, str]:
    """Mutant name → the reason it is equivalent, from benchmarks/equivalent_mutants.md."""
    found = {}
    for line in EQUIVALENTS.read_text().splitlines():
        match = EQUIVALENT_LINE.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def mutant_statuses(module: str) -> dict[str, str]:
    """Mutant name → mutmut's status, from mutmut's record of the module (mutants/…/X.py.meta)."""
    from mutmut.stats import status_by_exit_code

    meta = REPO / "mutants" / "src" / (module.replace(".", "/") + ".py.meta")
    if not meta.exists():
        return {}
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return {name: status_by_exit_code[code] for name, code in codes.items()}


def chosen_mutants(module: str, every: int, unkilled: bool) -> list[str]:
    """The module's mutants to run: all, or mutants 1, K+1, 2K+1, … of each function. With `unkilled`,
    only those the last runs did not kill: the survivors of every mutant run so far (a full run of one
    module and a sample of another can be rechecked at once), and the sample's unrun ones.
    mutmut reruns every mutant it is given by name."""
    if every == 1 and not unkilled:
        return [f"{module}.*"]
    if not mutant_statuses(module):  # mutmut has not made the mutants yet: a run that matches none does
        subprocess.run(
            [MUTMUT, "run", "--max-children", "1", "no such mutant"], cwd=REPO, capture_output=True
        )
    equivalent = equivalent_mutants()
    sampled = {name for name in mutant_statuses(module) if mutant_number(name) % every == 1 % every}
    if not unkilled:
        return sorted(sampled)
    return sorted(
        name
        for name, status in mutant_statuses(module).items()
        if status not in KILLED and name not in equivalent and (status != "not checked" or name in sampled)
    )


def run_mutmut(mutants: list[str]) -> float:
    """Run mutmut on these mutants (names or patterns), niced, one worker; the wall time in seconds."""
    # mutmut 3.8.1 here reloaded its cache of which tests reach which function as an empty map after
    # a run (every mutant then "no tests"): remove it, so that each run maps the tests afresh (~1 min).
    (REPO / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    start = time.monotonic()
    command = ["nice", "-n", "15", MUTMUT, "run", "--max-children", "1", *mutants]
    # mutmut redraws a progress line many times a second: keep its log out of the terminal.
    log = REPO / "mutants" / "mutation_run.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as out:
        subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=False)
    return time.monotonic() - start


def run_targeted(module: str, mutants: list[str], timeout: float) -> None:
    """Run each mutant against its module's test files (MODULE_TESTS), two at a time, niced; record each
    verdict in mutmut's record of the module and a line of TARGETED_LOG. A run past `timeout` seconds is
    recorded as not run: on a loaded machine a slow run is not evidence of a hanging mutant."""
    if module not in MODULE_TESTS:
        raise SystemExit(f"--targeted: no test files listed for {module} in MODULE_TESTS")
    tests = [f"tests/{name}" for name in MODULE_TESTS[module]]
    command = ["nice", "-n", "10", sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    # The tests mutmut's selection deselects (they read the repository's README and results, which
    # mutants/ does not hold) are deselected here too.
    selection = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]
    deselected = [
        arg for arg in selection["pytest_add_cli_args_test_selection"] if arg.startswith("--deselect=")
    ]
    command += ["-m", "not slow", *deselected, *tests]

    def verdict(name: str) -> tuple[str, int | None, float]:
        # The mutated copy of the library in mutants/src, not the checkout's: mutmut's trampolines
        # there pick the mutant MUTANT_UNDER_TEST names.
        env = {**os.environ, "MUTANT_UNDER_TEST": name, "PYTHONPATH": str(REPO / "mutants" / "src")}
        start = time.monotonic()
        try:
            code = subprocess.run(
                command, cwd=REPO / "mutants", env=env, capture_output=True, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            code = None
        return name, code, time.monotonic() - start

    meta_path = REPO / "mutants" / "src" / (module.replace(".", "/") + ".py.meta")
    with ThreadPoolExecutor(max_workers=2) as pool:
        for name, code, seconds in pool.map(verdict, mutants):
            # pytest: 1 a test failed (killed), 0 all passed (survived this subset); others: not run.
            if code in (0, 1):
                meta = json.loads(meta_path.read_text())
                meta["exit_code_by_key"][name] = code
                meta_path.write_text(json.dumps(meta, indent=4))
            line = {"mutant": name, "exit_code": code, "seconds": round(seconds, 1), "tests": tests}
            with TARGETED_LOG.open("a") as log:
                log.write(json.dumps(line) + "\n")
            print(f"{name}: {'timeout' if code is None else code} ({seconds:.0f} s)", flush=True)


def report(modules: list[str], show_diffs: bool) -> float:
    """Print each module's score and survivors; return the overall score (%)."""
    equivalent = equivalent_mutants()
    totals = Counter()
    survivors = []
    stale = []  # listed as equivalent, yet killed: the list is out of date
    header = ("module", "mutants", "killed", "equiv.", "survived", "not run", "score")
    print(f"{header[0]:<22}", *(f"{name:>8}" for name in header[1:]))
    for module in modules:
        statuses = mutant_statuses(module)
        counts = Counter()
        for name, status in statuses.items():
            # A listed equivalent outside this run's sample is not run, like any other mutant.
            if status in NOT_RUN:
                counts["not run"] += 1
            elif name in equivalent and status in KILLED:
                stale.append(name)
                counts["killed"] += 1
            elif name in equivalent:
                counts["equivalent"] += 1
            elif status in KILLED:
                counts["killed"] += 1
            else:  # survived, no tests, suspicious, segfault
                counts["survived"] += 1
                survivors.append((name, status))
        scored = counts["killed"] + counts["survived"]
        score = 100.0 * counts["killed"] / scored if scored else float("nan")
        print(
            f"{module:<22} {len(statuses):>8} {counts['killed']:>8} {counts['equivalent']:>8} "
            f"{counts['survived']:>8} {counts['not run']:>8} {score:>7.1f}%"
        )
        totals.update(counts)
        totals["mutants"] += len(statuses)
    scored = totals["killed"] + totals["survived"]
    overall = 100.0 * totals["killed"] / scored if scored else float("nan")
    print(
        f"{'overall':<22} {totals['mutants']:>8} {totals['killed']:>8} {totals['equivalent']:>8} "
        f"{totals['survived']:>8} {totals['not run']:>8} {overall:>7.1f}%"
    )
    if stale:
        print("\nListed as equivalent, yet killed (remove from the list):", *stale, sep="\n  ")
    if survivors:
        print(f"\nSurvivors ({len(survivors)}):")
        for name, status in survivors:
            print(f"  {name}  [{status}]")
            if show_diffs:
                diff = subprocess.run([MUTMUT, "show", name], cwd=REPO, capture_output=True, text=True)
                print("    " + diff.stdout.strip().replace("\n", "\n    "))
    return overall


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "modules", nargs="*", help="short names (stats, io, …); default: every configured one"
    )
    parser.add_argument("--report", action="store_true", help="print the last run's scores, run nothing")
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        metavar="K",
        help="run only mutants 1, K+1, 2K+1, … of each function (a sample; the rest stay 'not run')",
    )
    parser.add_argument(
        "--unkilled",
        action="store_true",
        help="rerun only what the last run did not kill (after new tests; with --targeted: survivors too)",
    )
    parser.add_argument(
        "--targeted",
        action="store_true",
        help="run the sample's unrun mutants against their module's test files only (MODULE_TESTS)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per mutant under --targeted (600)"
    )
    parser.add_argument("--diffs", action="store_true", help="print each surviving mutant's diff")
    args = parser.parse_args()
    configured = configured_modules()
    modules = [f"ngbench.{name}" for name in args.modules] or configured
    unknown = sorted(set(modules) - set(configured))
    if unknown:
        parser.error(f"not in [tool.mutmut] only_mutate: {', '.join(unknown)}")
    if args.targeted and not args.report:
        equivalent = equivalent_mutants()
        for module in modules:
            statuses = mutant_statuses(module)
            unrun = [
                name
                for name in chosen_mutants(module, args.every, unkilled=False)
                if name not in equivalent
                and (statuses.get(name) in NOT_RUN or (args.unkilled and statuses.get(name) not in KILLED))
            ]
            run_targeted(module, unrun, args.timeout)
    elif not args.report:
        mutants = [name for module in modules for name in chosen_mutants(module, args.every, args.unkilled)]
        seconds = run_mutmut(mutants) if mutants else 0.0
        print(f"mutmut ran for {seconds:.0f} s (log: mutants/mutation_run.log)\n", flush=True)
    report(modules, args.diffs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
