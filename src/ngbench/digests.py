"""What a workflow script runs of the library, as a hash: editing a module reruns the jobs that import it.

Snakemake reruns a job when its rule's script or params change, not when a module the script imports
does. Each rule therefore carries `script_digest(script, target)` as a param: the hash of every
library module the script imports, directly or through other modules (found by reading their
`import` statements, not by importing them), together with the data files those modules name.

The targets package imports every target, but a job runs one: the modules of the *other* targets
are left out, unless the job's own target imports them (`logistic_vi` builds on the module that
defines `gaussian_nd`). So editing `plots.py` reruns figure jobs only, editing `stats.py` the
statistics and the figures drawn from them, and editing a target's module that target's jobs.
A plugin target's jobs (`plugin_digest`) hash the user's files instead of a registered module.
A data file a config row names (a `glm_vi` row's CSV) is hashed by `files_digest` into that row's
params only.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from functools import cache
from pathlib import Path

PACKAGE = "ngbench"


def _module_file(root: Path, name: str) -> Path | None:
    path = root.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def imported_modules(source: str, root: Path, package: str = "") -> set[str]:
    """The library modules (and their parent packages) one source file imports.

    `package` is the package the file belongs to, for relative imports ("" for a script).
    """
    return set(_imported_modules(source, root, package))


# An import statement on a line of its own (indented or not; a parenthesized name list may span
# lines). Every `import` keyword of a module normally sits in one of these.
IMPORT_STATEMENT = re.compile(
    r"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import[ \t]+(?:\([^)]*\)|[^\n]*)|import[ \t]+[^\n]*)", re.M
)
IMPORT_WORD = re.compile(r"\bimport\b")


def _import_nodes(source: str) -> list[ast.AST]:
    """The file's import statements, read from the lines that hold them: ~100 times faster than
    parsing the whole file, which was most of a no-op's time in this module. Where some `import`
    word lies outside those lines (an import after `;` or `:`, a backslash continuation, or only
    the word in a comment) or a line does not parse alone, the whole file is parsed instead; a
    docstring line that reads like an import counts as one, which can only rerun more."""
    statements = IMPORT_STATEMENT.findall(source)
    if sum(len(IMPORT_WORD.findall(s)) for s in statements) == len(IMPORT_WORD.findall(source)):
        try:
            return [node for statement in statements for node in ast.parse(statement.strip()).body]
        except SyntaxError:
            pass
    return list(ast.walk(ast.parse(source)))


@cache
def _imported_modules(source: str, root: Path, package: str) -> frozenset[str]:
    """Keyed by the source text itself, so an edited file is read anew: a workflow start hashes
    ~100 jobs' scripts, each through the same few dozen modules, and parsing them once per job was
    most of a dry run's time (9 of 13 s profiled on the default config)."""
    found = set()
    for node in _import_nodes(source):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(parts + ([module] if module else []))
            found.add(module)
            # `from ngbench import plots` imports the module ngbench.plots.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    modules = set()
    for name in found:
        parts = name.split(".")
        if parts[0] != PACKAGE:
            continue
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            if _module_file(root, prefix) is not None:
                modules.add(prefix)
    return frozenset(modules)


def module_closure(roots, root: Path, left_out=frozenset()) -> set[str]:
    """Every library module reachable from `roots` through imports, not entering `left_out`."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen or name in left_out:
            continue
        path = _module_file(root, name)
        if path is None:
            continue
        seen.add(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        stack.extend(imported_modules(path.read_text(), root, package))
    return seen


def _data_files(root: Path, modules) -> list[Path]:
    """Files of the package's data folder whose name appears in one of `modules`' sources."""
    folder = root / PACKAGE / "data"
    if not folder.is_dir():
        return []
    sources = [_module_file(root, name).read_text() for name in modules]
    return [
        path for path in sorted(folder.rglob("*")) if path.is_file() and any(path.name in s for s in sources)
    ]


def _digest(root: Path, modules, user_files=(), base: Path = Path(".")) -> str:
    digest = hashlib.sha256()
    modules = sorted(modules)
    for path in [_module_file(root, name) for name in modules] + _data_files(root, modules):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    for path in user_files:
        # Relative to the working directory: the same project elsewhere gives the same digest.
        digest.update(Path(os.path.relpath(path, base)).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _targets_not_imported(own_roots, root: Path, target_modules: tuple[tuple[str, str], ...]) -> frozenset:
    """The registered targets' modules that the modules `own_roots` do not import, directly or not.

    The registry package a target sits in is not followed: `ngbench.targets` imports every target, to
    register them, so following it would make every target import every other.
    """
    registries = frozenset(module.rpartition(".")[0] for _, module in target_modules)
    needed = module_closure(own_roots, root, registries)
    return frozenset(module for _, module in target_modules if module not in needed)


@cache
def script_digest(
    script: Path, root: Path, target_modules: tuple[tuple[str, str], ...], target: str | None
) -> str:
    """Hash of what `script` runs for `target`: its library modules and their data files.

    `root` holds the `ngbench` package; `target_modules` pairs each registered target's name with
    the module defining it; `target` is the job's target (None: every target's modules count).
    """
    roots = imported_modules(Path(script).read_text(), root)
    left_out = frozenset()
    if target is not None:
        own = dict(target_modules)[target]
        left_out = _targets_not_imported([own], root, target_modules)
        roots |= {own}
    return _digest(root, module_closure(roots, root, left_out))


def plugin_digest(
    script: Path, root: Path, target_modules: tuple[tuple[str, str], ...], plugin: str, base: Path
) -> str:
    """`script_digest` for a job of a plugin target (`target: {plugin: file.py:Class}`, ngbench.plugins).

    The user's files (the plugin's, the sibling modules it imports, the data files it names) count
    with their paths relative to `base`, the working directory; of the library, what the script and
    the plugin import, and of the registered targets only those the plugin imports itself.
    Editing the plugin reruns its rows' jobs, and editing a built-in target's module does not.
    """
    from ngbench.plugins import plugin_files

    files = plugin_files(plugin, base)
    own = set()
    for path in files:
        if path.suffix == ".py":
            try:
                own |= imported_modules(path.read_text(), root)
            except SyntaxError:
                continue  # hashed all the same; loading it reports the problem
    # As for a registered target: of the built-in targets only the modules the plugin imports count.
    left_out = _targets_not_imported(own, root, target_modules)
    roots = imported_modules(Path(script).read_text(), root) | own
    return _digest(root, module_closure(roots, root, left_out), files, base)


def files_digest(paths) -> str:
    """Hash of the contents of files a config row names, in their order (not cached: a file may change)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]
