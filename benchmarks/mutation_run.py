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
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EQUIVALENTS = REPO / "benchmarks" / "equivalent_mutants.md"
# A line of the equivalents list: "- `ngbench.stats.x_holm__mutmut_3`: why no test can tell it apart".
EQUIVALENT_LINE = re.compile(r"^- `(ngbench\.[\w.]+__mutmut_\d+)`: (.+)$")
# mutmut from the same environment as this script's Python.
MUTMUT = str(Path(sys.executable).parent / "mutmut")
KILLED = {"killed", "timeout"}  # a mutant that makes a test hang is caught by the time limit
NOT_RUN = {"not checked", "skipped"}


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
        help="run only the mutants the last run did not kill (after new tests)",
    )
    parser.add_argument("--diffs", action="store_true", help="print each surviving mutant's diff")
    args = parser.parse_args()
    configured = configured_modules()
    modules = [f"ngbench.{name}" for name in args.modules] or configured
    unknown = sorted(set(modules) - set(configured))
    if unknown:
        parser.error(f"not in [tool.mutmut] only_mutate: {', '.join(unknown)}")
    if not args.report:
        mutants = [name for module in modules for name in chosen_mutants(module, args.every, args.unkilled)]
        seconds = run_mutmut(mutants) if mutants else 0.0
        print(f"mutmut ran for {seconds:.0f} s (log: mutants/mutation_run.log)\n", flush=True)
    report(modules, args.diffs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
