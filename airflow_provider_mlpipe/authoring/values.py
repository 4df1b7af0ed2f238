"""Rules and building blocks of v1's small authoring values.

v1's rules for names and modes of data and parameters; `FrozenValue`, what
`@dataclass(frozen=True)` gives (field equality and hash, a repr, no assignment) from the
class's `__slots__` (a frozen dataclass costs ~0.5 ms to define, paid by every DAG file parse).
"""

from __future__ import annotations

import re
from typing import Any

WORD_NAME = re.compile(r"^\w+$", re.ASCII)
INPUT_MODES = ("mount", "download")
OUTPUT_MODES = ("mount", "upload")
PARAMETER_TYPES = (bool, int, float, str)


def check_word_name(kind: str, name: Any) -> str:
    """v1 rule: data and parameter names are letters, digits and '_' only."""
    if not isinstance(name, str) or not WORD_NAME.fullmatch(name):
        raise ValueError(f"{kind} name {name!r} must contain only letters, digits and '_'")
    return name


def check_mode(owner: str, mode: str, allowed: tuple[str, ...]) -> str:
    """A data mode (`mount`, `download`, `upload`) that `owner` allows."""
    if mode not in allowed:
        raise ValueError(f"{owner}: mode {mode!r} is not one of {', '.join(allowed)}")
    return mode


class FrozenValue:
    """Subclasses name their fields in `__slots__` and set them in `__init__` with `_set`."""

    __slots__: tuple[str, ...] = ()

    def _set(self, **fields: Any) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by fields (the local runner gets a pickled pipeline): rebuilt without `__setattr__`."""
        return (_rebuild, (type(self), self._fields()))

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._fields()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


def _rebuild(cls: type[FrozenValue], values: tuple[Any, ...]) -> FrozenValue:
    value = cls.__new__(cls)
    value._set(**dict(zip(cls.__slots__, values, strict=True)))
    return value
