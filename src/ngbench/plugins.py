"""Targets from a user's file: a config row's `target: {plugin: models/my_model.py:MyModel, ...}`.

The path is relative to the working directory (where Snakemake runs, `-d`). The class is a
`ngbench.targets.base.Target` subclass (docs/extending.md, "Adding your own model"): the fields
next to `plugin` are its spec, checked against its class attribute `spec_schema` (a JSON schema,
optional) and then by its `from_spec`. Anything the plugin raises while loading or building is
turned into a `PluginError` naming the plugin and the field, never a traceback from inside ngbench.

`plugin_files` lists what the workflow hashes for reruns: the plugin's file, the modules it imports
from its own folder, and the files those sources name by a relative path (e.g. its data file).
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import traceback
from pathlib import Path

from ngbench.targets.base import SpecError, Target

REFERENCE = re.compile(r"^(?P<path>[^:]+\.py):(?P<cls>[A-Za-z_][A-Za-z0-9_]*)$")
_LOADED: dict[tuple[Path, int], object] = {}  # (file, hash of its bytes) → module


class PluginError(SpecError):
    """A problem with a plugin target; `plugin` is the reference as the row wrote it."""

    def __init__(self, plugin: str, field: str, message: str):
        super().__init__(field, message)
        self.plugin = plugin


def split_reference(reference: str) -> tuple[Path, str]:
    match = REFERENCE.match(reference) if isinstance(reference, str) else None
    if match is None:
        raise SpecError("plugin", f"must read path/to/file.py:ClassName, got {reference!r}")
    return Path(match["path"]), match["cls"]


def _where_in_plugin(error: BaseException, path: Path) -> str:
    """` (file.py:line)` of the innermost frame of the user's own folder, to point at their code."""
    folder = path.resolve().parent
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if Path(f.filename).resolve().is_relative_to(folder)
    ]
    return f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""


def describe(error: BaseException, path: Path) -> str:
    return f"{type(error).__name__}: {error}{_where_in_plugin(error, path)}"


def load_plugin(reference: str, base: Path | None = None) -> type[Target]:
    """The class a reference names, its module imported once per file version.

    The plugin's folder is on `sys.path` while it loads, so it may import its sibling modules.
    """
    relative, class_name = split_reference(reference)
    path = (Path.cwd() if base is None else base) / relative
    if not path.is_file():
        where = (Path.cwd() if base is None else base).resolve()
        raise PluginError(
            reference,
            "plugin",
            f"no file {relative} in {where} (paths are relative to the working directory)",
        )
    key = (path.resolve(), hash(path.read_bytes()))
    if key not in _LOADED:
        module_name = f"ngbench_plugin_{abs(key[1]):x}_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        folder = str(path.resolve().parent)
        sys.path.insert(0, folder)
        try:
            spec.loader.exec_module(module)
        except Exception as error:  # the user's code: report it, do not crash the config check
            raise PluginError(
                reference, "plugin", f"importing {relative} raised {describe(error, path)}"
            ) from None
        finally:
            sys.path.remove(folder)
        _LOADED[key] = module
    cls = getattr(_LOADED[key], class_name, None)
    if cls is None:
        raise PluginError(reference, "plugin", f"{relative} defines no {class_name}")
    if not (isinstance(cls, type) and issubclass(cls, Target)):
        raise PluginError(
            reference, "plugin", f"{class_name} is not a subclass of ngbench.targets.base.Target"
        )
    return cls


def plugin_fields(spec: dict) -> dict:
    """The plugin's own fields: the row's `target` mapping without `plugin`."""
    return {key: value for key, value in spec.items() if key != "plugin"}


def _schema_problem(cls: type, fields: dict) -> tuple[str, str] | None:
    """(dotted field, message) of the first violation of the plugin's `spec_schema`, deepest first."""
    schema = getattr(cls, "spec_schema", None)
    if schema is None:
        return None
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(fields), key=lambda e: -len(e.absolute_path))
    if not errors:
        return None
    error = errors[0]
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return ".".join(path + missing[:1]), "required property missing"
    if error.validator == "additionalProperties":
        extra = [key for key in error.instance if key not in error.schema.get("properties", {})]
        known = ", ".join(sorted(error.schema.get("properties", {})))
        return ".".join(path + extra[:1]), f"unknown property (allowed: {known})"
    return ".".join(path), error.message


def build_plugin(spec: dict, base: Path | None = None) -> Target:
    """The target of a plugin row: schema-checked fields, then `from_spec`; PluginError on any fault."""
    reference = spec["plugin"]
    cls = load_plugin(reference, base)
    fields = plugin_fields(spec)
    problem = _schema_problem(cls, fields)
    if problem is not None:
        raise PluginError(reference, *problem)
    path = (Path.cwd() if base is None else base) / split_reference(reference)[0]
    try:
        target = cls.from_spec(fields)
    except SpecError as error:
        raise PluginError(reference, error.field, error.reason) from None
    except KeyError as error:  # a field the plugin reads and the row lacks
        raise PluginError(reference, str(error.args[0]), "required by the plugin, missing") from None
    except Exception as error:
        raise PluginError(reference, "", f"from_spec raised {describe(error, path)}") from None
    if not isinstance(target, Target):
        raise PluginError(reference, "", f"from_spec returned {type(target).__name__}, not a Target")
    if not target.name:
        target.name = cls.__name__
    return target


def _local_imports(source: str, folder: Path) -> list[Path]:
    """Modules of `folder` a source imports (`import helpers`, `from helpers import x`, `from . import`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module] if node.module else [alias.name for alias in node.names]
        for name in names:
            candidate = folder.joinpath(*name.split("."))
            for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
                if path.is_file():
                    found.append(path)
    return found


def _path_literals(tree: ast.AST):
    """Relative paths a source spells out: string literals, and `/` chains ending in literals
    (`Path(__file__).parent / "data" / "counts.csv"` gives "data/counts.csv")."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            parts, current = [], node
            while isinstance(current, ast.BinOp) and isinstance(current.op, ast.Div):
                parts.append(current.right)
                current = current.left
            parts.append(current)
            literal = []
            for part in parts:  # from the right: the trailing literal parts
                if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                    break
                literal.insert(0, part.value)
            if len(literal) > 1:
                yield "/".join(literal)


def _named_files(source: str, folder: Path) -> list[Path]:
    """Files a source names by a relative path from its folder (a data file, say)."""
    found = []
    for text in _path_literals(ast.parse(source)):
        if not 0 < len(text) < 256 or "\n" in text or "\0" in text or Path(text).is_absolute():
            continue
        try:
            if (folder / text).is_file():
                found.append(folder / text)
        except (OSError, ValueError):
            continue
    return found


def plugin_files(reference: str, base: Path | None = None) -> list[Path]:
    """The plugin's file, the sibling modules it imports (recursively) and the files they name, sorted.

    Read, not imported: this runs on every Snakemake start. A file the plugin reads by a path it
    builds at run time is not found; name it as a literal (`HERE / "data.csv"` is found) or list it
    in the plugin's fields.
    """
    relative, _ = split_reference(reference)
    path = (Path.cwd() if base is None else base) / relative
    seen: set[Path] = set()
    stack = [path]
    data: set[Path] = set()
    while stack:
        current = stack.pop()
        if current in seen or not current.is_file():
            continue
        seen.add(current)
        try:
            source = current.read_text()
            stack.extend(_local_imports(source, current.parent))
            data.update(_named_files(source, current.parent))
        except (SyntaxError, UnicodeDecodeError):
            continue  # hashed as bytes; importing it reports the problem
    return sorted(seen | data)
