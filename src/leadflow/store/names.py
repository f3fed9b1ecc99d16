"""The duplicate search's name filter (`domain.duplicates.name_filter`) in SQL, on the stored initials.

A candidate of a broad key passes when it has no first initial, when its first initial is one of the
filter's first initials, or when its last initial is one of its last initials: each set is a string of
one-character initials, and membership is the character's position in it (SQLite's `instr`, PostgreSQL's
`strpos`), exactly as `NameFilter.admits` tests it in Python. A NULL `first` admits everyone (no filter).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class position_in(FunctionElement[int]):
    """The 1-based position of `needle` in `haystack`, 0 when absent, NULL when either is NULL."""

    type = Integer()
    inherit_cache = True
    name = "position_in"


@compiles(position_in)
def _position_in(element: position_in, compiler: Any, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(position_in, "postgresql")
def _position_in_pg(element: position_in, compiler: Any, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


def name_filter_clause(model: Any, first: Any, last: Any) -> Any:
    """`model`'s people that the filter (`first`, `last`: bound values or columns) admits."""
    return or_(first.is_(None), model.first_initial.is_(None), position_in(first, model.first_initial) > 0,
               position_in(last, model.last_initial) > 0)
