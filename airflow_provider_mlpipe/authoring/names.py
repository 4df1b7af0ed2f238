"""v1's rules for names and modes of data and parameters, shared by the authoring modules."""

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
