"""Small values shared by the rules: owners, actors and the tri-state classification value."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class TriState(StrEnum):
    """A lifecycle classification value (L6): decided true, decided false, or not yet known."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "-"

    @classmethod
    def of(cls, value: bool | None) -> TriState:
        return cls.UNKNOWN if value is None else (cls.TRUE if value else cls.FALSE)


OwnerType = Literal["user", "queue"]


@dataclass(frozen=True)
class Owner:
    """Who owns a lead or contact (D1): a user or a queue; a queue's id is its name."""

    type: OwnerType
    id: str

    @classmethod
    def queue(cls, name: str) -> Owner:
        return cls("queue", name)

    @classmethod
    def user(cls, user_id: str) -> Owner:
        return cls("user", user_id)

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"


ActorType = Literal["user", "system"]


@dataclass(frozen=True)
class Actor:
    """Who asked for a change: a signed-in user, or the system (a job, an import, the CLI)."""

    type: ActorType
    id: str

    @classmethod
    def system(cls, name: str = "leadflow") -> Actor:
        return cls("system", name)

    @classmethod
    def user(cls, user_id: str) -> Actor:
        return cls("user", user_id)

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"
