"""Reading a playbook file: YAML → validated `Playbook`, or every error with its path and line."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from leadflow.errors import PlaybookError
from leadflow.playbook.schema import Playbook

DEFAULT_PLAYBOOK = "default.yaml"


def default_playbook_path() -> Path:
    """The built-in GitLab-handbook playbook shipped inside the package."""
    return Path(str(resources.files("leadflow.playbook").joinpath(DEFAULT_PLAYBOOK)))


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_index(text: str) -> dict[str, int]:
    """Map each YAML path ("statuses[2].queue") to its 1-based line in the file."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, f"{path}[{i}]")

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, "")
    return lines


def _with_line(path: str, lines: dict[str, int]) -> str:
    probe = path
    while probe:
        if probe in lines:
            return f"{path} (line {lines[probe]})"
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return path


def parse_playbook(text: str, source: str = "playbook") -> Playbook:
    """Validate YAML text as a playbook; raise PlaybookError listing every problem."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise PlaybookError([(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")], source) from None
    if not isinstance(data, dict):
        raise PlaybookError([("(file)", "a playbook is a YAML mapping")], source)
    lines = _line_index(text)
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        issues = [(_with_line(_format_loc(err["loc"]) or "(file)", lines), err["msg"]) for err in exc.errors()]
        raise PlaybookError(issues, source) from None
    refs = playbook.reference_issues()
    if refs:
        raise PlaybookError([(_with_line(p, lines), r) for p, r in refs], source)
    return playbook


def load_playbook(path: str | Path | None = None) -> Playbook:
    """Load and validate a playbook file (the built-in one when `path` is None)."""
    target = Path(path) if path else default_playbook_path()
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlaybookError([("(file)", f"cannot read {target}: {exc.strerror}")], str(target)) from None
    return parse_playbook(text, str(target))


@lru_cache(maxsize=8)
def _cached(path: str) -> Playbook:
    return load_playbook(path)


def cached_playbook(path: str | Path | None = None) -> Playbook:
    """Load once per process: the playbook is frozen, so sharing it is safe."""
    return _cached(str(Path(path) if path else default_playbook_path()))
