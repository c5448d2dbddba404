"""Read a YAML config file: ${ENV} and *_file secrets, and errors that name file, line and key."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The config is not usable; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class _Located:
    """Line numbers of every key and item in a YAML document, by path."""

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            return
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, key.value)
                self._walk(value, sub)
                self.lines[sub] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def line(self, path: Sequence[Any]) -> int:
        """Return the line of the deepest prefix of ``path`` found in the document."""
        found = tuple(path)
        while found and found not in self.lines:
            found = found[:-1]
        return self.lines.get(found, 1)

    def key_path(self, loc: Sequence[Any]) -> list[Any]:
        """Return ``loc`` without the union tags pydantic adds, which the YAML does not have."""
        kept: list[Any] = []
        for part in loc:
            if (*kept, part) not in self.lines and part in _TAGS:
                continue
            kept.append(part)
        return kept


def _dotted(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _resolve(
    value: Any, path: tuple[Any, ...], base: Path, where: _Located, file: str, problems: list[str]
) -> Any:
    """Return ``value`` with ${ENV} replaced and every ``KEY_file`` read into ``KEY``."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            sub = (*path, key)
            if isinstance(key, str) and key.endswith("_file") and isinstance(item, str):
                target = key.removesuffix("_file")
                if target in value:
                    problems.append(
                        f"{file}:{where.line(sub)}: {_dotted(sub)}: set either {target} or {key}, not both"
                    )
                    continue
                secret_path = Path(_expand(item, sub, where, file, problems))
                if not secret_path.is_absolute():
                    secret_path = base / secret_path
                try:
                    out[target] = secret_path.read_text().strip()
                except OSError as exc:
                    problems.append(
                        f"{file}:{where.line(sub)}: {_dotted(sub)}: cannot read secret file "
                        f"{secret_path}: {exc.strerror or exc}; create it or fix the path"
                    )
                continue
            out[key] = _resolve(item, sub, base, where, file, problems)
        return out
    if isinstance(value, list):
        return [
            _resolve(item, (*path, i), base, where, file, problems) for i, item in enumerate(value)
        ]
    if isinstance(value, str):
        return _expand(value, path, where, file, problems)
    return value


def _expand(
    text: str, path: tuple[Any, ...], where: _Located, file: str, problems: list[str]
) -> str:
    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        problems.append(
            f"{file}:{where.line(path)}: {_dotted(path)}: environment variable {name} is not set; "
            f"export it, or give a default as ${{{name}:-value}}"
        )
        return ""

    return _ENV.sub(sub, text)


def _message(error: dict[str, Any], model: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key; check the spelling against docs/configuration.md"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"unknown kind {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "missing 'kind'; say which kind of source this is"
    msg = str(error["msg"]).removeprefix("Value error, ")
    return msg[0].lower() + msg[1:] if msg else kind


def load_config(path: str | os.PathLike[str], model: type[BaseModel]) -> Any:
    """Return ``model`` validated from the YAML file at ``path``, or raise ConfigError."""
    file = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read config: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{file}{line}: not valid YAML: {problem}"]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{file}:1: expected a mapping of sections (store, sources, kafka, …)"])
    where = _Located(text)
    problems: list[str] = []
    data = _resolve(data, (), Path(file).resolve().parent, where, file, problems)
    if problems:
        raise ConfigError(problems)
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_input=False, include_url=False):
            loc = where.key_path(error["loc"])
            if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc.append("kind")
            at = where.line(loc)
            lines.append(f"{file}:{at}: {_dotted(loc)}: {_message(dict(error), model)}")
        raise ConfigError(lines) from None
    # Checks across sections (a pipeline naming a source) come back as (key path, message).
    cross = getattr(config, "cross_problems", None)
    found = cross() if callable(cross) else []
    if found:
        raise ConfigError(
            [f"{file}:{where.line(path)}: {_dotted(path)}: {message}" for path, message in found]
        )
    return config


# Pydantic puts a discriminated union's tag and helper names into error locations.
_TAGS: set[Any] = set()


def register_tags(tags: Sequence[str]) -> None:
    """Tell the loader which location parts are union tags, not YAML keys."""
    _TAGS.update(tags)
