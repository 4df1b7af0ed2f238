r"""Put values into the `@@name@@` placeholders of a U-SQL script without letting them change it.

v1's `AdlaStep` replaced `@@name@@` by plain text. Here a value can come from outside the
DAG file (a `PipelineParameter` set in a REST trigger's conf, a path chosen per run), and
plain text replacement would let a value such as `x"; DROP TABLE t; //` close its string
literal and add statements of its own. So each occurrence is replaced according to where it
stands, found by a small lexer that knows U-SQL's lexical rules (which are C#'s):

* in a regular string `"..."`: the value is escaped C#-style (`\` becomes `\\`, `"` becomes
  `\"`); line breaks and other control characters are refused;
* in a verbatim string `@"..."`: `"` is doubled; control characters are refused;
* in a `// line` or `/* block */` comment: the value as is, unless it could end the comment;
* in code: only a plain number or identifier; anything else is refused with a hint to put
  the placeholder inside quotes;
* in a char literal `'x'`, or after an interpolated string `$"..."` (whose `{holes}` are code
  this lexer does not follow), every value is refused.

Each literal or comment that received a value is lexed again and must still be exactly one
literal or comment of the same kind, and the whole result must have the template's token
structure; otherwise the value is refused. Values are inserted once: a value that contains
`@@other@@` is not substituted again.

Limits: `[quoted identifiers]` are not lexed (a placeholder inside one counts as code, where
only identifiers and numbers pass, so it cannot break out); C# 11 raw string literals are
not lexed (U-SQL predates them). Stdlib only, so the authoring layer can use it at parse time.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from airflow_provider_mlpipe.exceptions import UsqlScriptError

# Token kinds; "code" is everything between the others.
CODE = "code"
PLACEHOLDER = "placeholder"  # @@name@@ standing in code
STRING = "string literal"
VERBATIM = "verbatim string literal"
CHAR = "char literal"
LINE_COMMENT = "line comment"
BLOCK_COMMENT = "block comment"
INTERPOLATED = "interpolated string"  # `$"...` and everything after it: not scanned

#: C#'s line terminators.
_BREAKS = r"\n\r\x85\u2028\u2029"
_TOKEN = re.compile(
    rf"""
      (?P<placeholder> @@\w+@@ )
    | (?P<interpolated> (?:\$@?|@\$)" [\s\S]* )
    | (?P<verbatim> @" (?:[^"]|"")* (?P<verbatim_end>")? )
    | (?P<string> " (?:[^"\\{_BREAKS}]|\\[^{_BREAKS}]?)* (?P<string_end>")? )
    | (?P<char> ' (?:[^'\\{_BREAKS}]|\\[^{_BREAKS}]?)* (?P<char_end>')? )
    | (?P<line_comment> //[^{_BREAKS}]* )
    | (?P<block_comment> /\* [\s\S]*? (?:(?P<block_comment_end>\*/)|\Z) )
    """,
    re.VERBOSE,
)
_KINDS = {
    "placeholder": PLACEHOLDER,
    "interpolated": INTERPOLATED,
    "verbatim": VERBATIM,
    "string": STRING,
    "char": CHAR,
    "line_comment": LINE_COMMENT,
    "block_comment": BLOCK_COMMENT,
}
_PLACEHOLDER = re.compile(r"@@(\w+)@@")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Control characters, lone surrogates, and the line/paragraph separators C# treats as line breaks.
_UNWRITABLE = ("Cc", "Cs", "Zl", "Zp")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    closed: bool = True  # False for a literal or block comment that lacks its closing quote or */


def lex(script: str) -> list[Token]:
    """The script as code, placeholders in code, string/char literals and comments, in order.

    An unterminated literal or comment ends where C# gives up on it (a regular string or char
    literal at the line break, a verbatim string or block comment at the end of the text).
    """
    tokens: list[Token] = []
    code_start = 0
    for match in _TOKEN.finditer(script):
        if match.start() > code_start:
            tokens.append(Token(CODE, script[code_start : match.start()]))
        group = next(g for g in _KINDS if match.group(g) is not None)
        ends = match.groupdict().get(f"{group}_end", "")
        tokens.append(Token(_KINDS[group], match.group(), closed=ends is not None))
        code_start = match.end()
    if code_start < len(script):
        tokens.append(Token(CODE, script[code_start:]))
    return tokens


def placeholders_in(script: str) -> list[str]:
    """The distinct `@@name@@` names of a script, in order of first use."""
    return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(script)))


def occurrences(script: str) -> list[tuple[str, str]]:
    """(name, context) of every `@@name@@`, in order; the context is a token kind (`CODE` for bare)."""
    found = []
    for token in lex(script):
        kind = CODE if token.kind == PLACEHOLDER else token.kind
        found += [(m.group(1), kind) for m in _PLACEHOLDER.finditer(token.text)]
    return found


def value_problem(name: str, context: str, value: str) -> str | None:
    """Why `value` may not replace `@@name@@` in `context`, or None when it may."""
    where = f"@@{name}@@"
    if context == CODE:
        if _NUMBER.fullmatch(value) or _IDENTIFIER.fullmatch(value):
            return None
        return (
            f"{where} stands outside any string literal, where only a plain number or identifier is "
            f'accepted, got {_show(value)}; put the placeholder inside quotes: "{where}"'
        )
    if context == CHAR:
        return f"{where} is inside a char literal ('...'), which holds one character; use \"{where}\""
    if context == INTERPOLATED:
        return (
            f'{where} comes after an interpolated string ($"..."), which mlpipe does not scan; '
            "build that string with + instead"
        )
    bad = next((c for c in value if unicodedata.category(c) in _UNWRITABLE), None)
    if bad is not None:
        return (
            f"{where} is inside a {context} and its value contains the control character or line "
            f"break U+{ord(bad):04X}, which is not allowed there"
        )
    if context in (LINE_COMMENT, BLOCK_COMMENT) and "*/" in value:
        return f"{where} is inside a {context} and its value contains '*/'"
    return None


def substitute(script: str, values: dict[str, Any], step_name: str) -> str:
    """The script with every `@@name@@` replaced by `values[name]`, safely for where it stands.

    Values are strings (ints, floats and bools are turned into text with `str`). Raises
    ValueError naming the step and the placeholder when a name has no value or a value could
    change the script's structure (end a literal or comment, add code, ...).
    """
    names = placeholders_in(script)
    unknown = [n for n in names if n not in values]
    if unknown:
        missing = ", ".join(f"@@{n}@@" for n in unknown)
        known = ", ".join(sorted(values)) or "none"
        raise UsqlScriptError(
            f"step {step_name!r}: the U-SQL script uses {missing}, which has no value (known: {known})"
        )
    texts = {name: _text(step_name, name, values[name]) for name in names}

    parts: list[Token] = []
    for token in lex(script):
        context = CODE if token.kind == PLACEHOLDER else token.kind
        if token.kind == CODE or not _PLACEHOLDER.search(token.text):
            parts.append(token)
            continue

        def replace(match: re.Match[str], context: str = context) -> str:
            name, value = match.group(1), texts[match.group(1)]
            problem = value_problem(name, context, value)
            if problem:
                raise UsqlScriptError(f"step {step_name!r}: {problem}")
            return _escape(context, value)

        filled = Token(context, _PLACEHOLDER.sub(replace, token.text), token.closed)
        # The literal or comment must still be one, ending as before (a value must not eat its
        # closing quote, e.g. `"\@@v@@"` with the value `\`).
        if lex(filled.text) != [filled]:
            used = ", ".join(f"@@{n}@@" for n in placeholders_in(token.text))
            raise UsqlScriptError(
                f"step {step_name!r}: the value of {used} would end or extend its {context} "
                "(check the characters next to the placeholder in the script)"
            )
        parts.append(filled)

    result = "".join(t.text for t in parts)
    # Guard: the same literals and comments, and the same code between them, as planned.
    if _shape(lex(result)) != _shape(parts):
        used = ", ".join(f"@@{n}@@" for n in names)
        raise UsqlScriptError(
            f"step {step_name!r}: the values of {used} would change the U-SQL script's structure"
        )
    return result


def _text(step_name: str, name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    raise TypeError(
        f"step {step_name!r}: the value of @@{name}@@ must be a string, got {type(value).__name__}"
    )


def _escape(context: str, value: str) -> str:
    if context == STRING:
        return value.replace("\\", "\\\\").replace('"', '\\"')
    if context == VERBATIM:
        return value.replace('"', '""')
    return value  # code (checked to be a number or identifier) and comments (checked)


def _shape(tokens: list[Token]) -> list[Any]:
    """Literals and comments as (kind, closed); each run of code and placeholders as its text."""
    shape: list[Any] = []
    for token in tokens:
        if token.kind in (CODE, PLACEHOLDER):
            if shape and isinstance(shape[-1], str):
                shape[-1] += token.text
            else:
                shape.append(token.text)
        else:
            shape.append((token.kind, token.closed))
    return shape


def _show(value: str, limit: int = 60) -> str:
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} characters)"
