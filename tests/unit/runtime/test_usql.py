"""`runtime.usql`: the lexer, and substitution that no placeholder value can break out of.

A value from a REST trigger's conf must not add U-SQL. For every hostile value and every
place a placeholder can stand, substitution either refuses the value or gives a script whose
token structure (literals and comments, and the code between them) is the template's.
"""

from __future__ import annotations

import random

import pytest

from airflow_provider_mlpipe.runtime.usql import (
    BLOCK_COMMENT,
    CHAR,
    CODE,
    INTERPOLATED,
    LINE_COMMENT,
    PLACEHOLDER,
    STRING,
    VERBATIM,
    Token,
    lex,
    occurrences,
    placeholders_in,
    substitute,
)

BENIGN = "benign"

# Templates with one placeholder @@v@@, by where it stands. Code around it has its own literals,
# so a value that broke out would change their number or the code between them.
LITERAL_TEMPLATES = {
    "string": 'DECLARE @in string = "@@v@@";\n@t = EXTRACT a string FROM @in USING Extractors.Csv();\nOUTPUT @t TO "/out.csv" USING Outputters.Csv();\n',
    "string-middle": '@t = SELECT * FROM (VALUES ("pre-@@v@@-post")) AS T(x);\nOUTPUT @t TO "/o.csv";\n',
    "string-escapes-around": 'DECLARE @a string = "\\"@@v@@\\\\";\nDECLARE @b string = "b";\n',
    "verbatim": 'DECLARE @in string = @"C:\\data\\@@v@@";\nDECLARE @b string = "b";\n',
    "verbatim-quotes-around": 'DECLARE @in string = @"""@@v@@""";\nDECLARE @b string = "b";\n',
    "line-comment": '// input: @@v@@\nOUTPUT @t TO "/out.csv";\n',
    "line-comment-copy": '// @COPY @@v@@ -> /tmp/x\nOUTPUT @t TO "/out.csv";\n',
    "block-comment": '/* input: @@v@@ */\nOUTPUT @t TO "/out.csv";\n',
    "block-comment-multiline": '/*\n * input: @@v@@\n */\nOUTPUT @t TO "/out.csv";\n',
    # Characters next to the placeholder that a value could combine with.
    "string-after-backslash": 'DECLARE @in string = "\\@@v@@";\nDECLARE @b string = "b";\n',
    "block-comment-after-star": '/* *@@v@@ */\nOUTPUT @t TO "/out.csv";\n',
    "block-comment-before-slash": '/* @@v@@/ */\nOUTPUT @t TO "/out.csv";\n',
}
CODE_TEMPLATES = {
    "code": 'DECLARE @n int = @@v@@;\nOUTPUT @t TO "/out.csv";\n',
    "code-before-string": 'DECLARE @s string = @@v@@"x";\nDECLARE @b string = "b";\n',
    "code-after-at": 'DECLARE @s string = @@@v@@"x";\n',
    "code-after-slash": "@n = 1 /@@v@@/ 2;\n",
}
TEMPLATES = {**LITERAL_TEMPLATES, **CODE_TEMPLATES}

HOSTILE = [
    '"; DROP TABLE x; //',
    '" + @other + "',
    '\\"',
    '\\\\"',
    "\\",
    "abc\\",
    '"',
    '""',
    '"""',
    'a\nOUTPUT @x TO "y"',
    'a\rOUTPUT @x TO "y"',
    "a\r\nb",
    "*/ DROP /*",
    "*/",
    "*",
    "/",
    "/ DROP",
    "// x",
    "/* x",
    '@"',
    '"@"',
    '@""; DROP TABLE x; @"',
    '"" + @x + ""',
    "'",
    "'; DROP",
    "\\u0022",
    "\\x22",
    '{System.IO.File.Delete("x")}',
    '$"{x}"',
    "@@other@@",
    "\u201cquoted\u201d",  # “quoted”
    "\u201e\u201f\u2033",
    "\uff02fullwidth\uff02",
    "\u02ba\u02dd",
    "a\u2028OUTPUT",
    "a\u2029b",
    "a\x85b",
    "a\x00b",
    "a\tb",
    "a\x1bb",
    "a\x7fb",
    "\u202eevil",
    "\ud800",
    "",
    " ",
    "x" * 100_000,
    '"' * 10_001,
    "\\" * 10_001,
    '\\"' * 5_000,
    "*/" * 5_000,
    "a\n" * 1000,
]
NORMAL = [
    "wasb://c@acct.blob.core.windows.net/x/y.csv",
    "adl://acct.azuredatalakestore.net/folder/file.tsv",
    "/tmp/a b/c.csv",
    "C:\\data\\in.csv",
    "it's",
    "100%",
    "ünïcödé/файл.csv",
    "@input",
]


def shape(tokens: list[Token]) -> list[tuple[str, str | bool]]:
    """Kinds of the tokens, with the text of code and whether literals are closed: what a value must not change."""
    return [(t.kind, t.text if t.kind == CODE else t.closed) for t in tokens]


def kinds(tokens: list[Token]) -> list[str]:
    merged: list[str] = []
    for kind in (CODE if t.kind == PLACEHOLDER else t.kind for t in tokens):
        if not (kind == CODE and merged and merged[-1] == CODE):
            merged.append(kind)
    return merged


def decode_string(literal: str) -> str:
    """The value of a regular C# string literal (only the escapes these tests produce)."""
    assert literal[0] == '"' and literal[-1] == '"'
    out, i, body = [], 0, literal[1:-1]
    while i < len(body):
        if body[i] == "\\":
            out.append({"\\": "\\", '"': '"'}.get(body[i + 1], "\\" + body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def decode_verbatim(literal: str) -> str:
    assert literal.startswith('@"') and literal.endswith('"')
    return literal[2:-1].replace('""', '"')


def check_safe(template: str, value: str) -> str | None:
    """Substitute; assert the result has the template's structure. None when the value was refused."""
    try:
        result = substitute(template, {"v": value}, "usql")
    except ValueError as error:
        assert str(error).startswith("step 'usql': ")
        assert "@@v@@" in str(error)
        return None
    benign = lex(substitute(template, {"v": BENIGN}, "usql"))
    relexed = lex(result)
    assert kinds(relexed) == kinds(benign)
    if all(context != CODE for _name, context in occurrences(template)):
        assert shape(relexed) == shape(benign)  # same literals, and the very same code between them
    else:
        assert shape(relexed) == shape(lex(template.replace("@@v@@", value)))
    return result


# -- the lexer ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ('"a"', [(STRING, '"a"')]),
        ('"a\\"b"', [(STRING, '"a\\"b"')]),
        ('"a\\\\"b', [(STRING, '"a\\\\"'), (CODE, "b")]),
        ('"open\nx', [(STRING, '"open'), (CODE, "\nx")]),
        ('@"a""b" c', [(VERBATIM, '@"a""b"'), (CODE, " c")]),
        ('@"line\nbreak"', [(VERBATIM, '@"line\nbreak"')]),
        ('@"a\\"', [(VERBATIM, '@"a\\"')]),
        ("'x' '\\'' y", [(CHAR, "'x'"), (CODE, " "), (CHAR, "'\\''"), (CODE, " y")]),
        ('// a "b" /*\nc', [(LINE_COMMENT, '// a "b" /*'), (CODE, "\nc")]),
        ('/* a "b\n // */c', [(BLOCK_COMMENT, '/* a "b\n // */'), (CODE, "c")]),
        ("/* open", [(BLOCK_COMMENT, "/* open")]),
        ('x "//" y', [(CODE, "x "), (STRING, '"//"'), (CODE, " y")]),
        ("@@a@@@@b@@", [(PLACEHOLDER, "@@a@@"), (PLACEHOLDER, "@@b@@")]),
        ('@@a@@"s"', [(PLACEHOLDER, "@@a@@"), (STRING, '"s"')]),
        ('@@@a@@"s"', [(CODE, "@"), (PLACEHOLDER, "@@a@@"), (STRING, '"s"')]),
        ('@@a@@@"s"', [(PLACEHOLDER, "@@a@@"), (VERBATIM, '@"s"')]),
        ('a $"{b["k"]}" @@c@@', [(CODE, "a "), (INTERPOLATED, '$"{b["k"]}" @@c@@')]),
        ('@$"x"', [(INTERPOLATED, '@$"x"')]),
        ("SELECT a, b FROM @t;", [(CODE, "SELECT a, b FROM @t;")]),
        ("", []),
    ],
)
def test_lex(script, expected):
    assert [(t.kind, t.text) for t in lex(script)] == expected
    assert "".join(t.text for t in lex(script)) == script


def test_placeholders_in_order_of_first_use_without_repeats():
    script = 'x = "@@b@@"; // @@a@@\n y = @@b@@ + "@@c_1@@@@a@@" /* @@d@@ */ @@not a name@@ @@@@'
    assert placeholders_in(script) == ["b", "a", "c_1", "d"]
    assert placeholders_in("no placeholders, @not@ @@ @@-@@") == []


def test_occurrences_say_where_each_placeholder_stands():
    script = '"@@a@@" @"@@b@@" // @@c@@\n/* @@d@@ */ @@e@@ \'@@f@@\' $"@@g@@"'
    assert occurrences(script) == [
        ("a", STRING),
        ("b", VERBATIM),
        ("c", LINE_COMMENT),
        ("d", BLOCK_COMMENT),
        ("e", CODE),
        ("f", CHAR),
        ("g", INTERPOLATED),
    ]


# -- hostile values -----------------------------------------------------------------------------


@pytest.mark.parametrize("template", list(TEMPLATES.values()), ids=list(TEMPLATES))
@pytest.mark.parametrize("value", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_value_is_refused_or_kept_inside_its_context(template, value):
    check_safe(template, value)


@pytest.mark.parametrize("value", HOSTILE + NORMAL, ids=[f"value{i}" for i in range(len(HOSTILE + NORMAL))])
def test_string_literal_holds_exactly_the_value(value):
    result = check_safe('DECLARE @in string = "@@v@@";\n', value)
    control = any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in value)
    assert (result is None) == (control or value == "\ud800")
    if result is not None:
        assert decode_string(lex(result)[1].text) == value


@pytest.mark.parametrize("value", HOSTILE + NORMAL, ids=[f"value{i}" for i in range(len(HOSTILE + NORMAL))])
def test_verbatim_literal_holds_exactly_the_value(value):
    result = check_safe('DECLARE @in string = @"@@v@@";\n', value)
    if result is not None:
        assert decode_verbatim(lex(result)[1].text) == value


@pytest.mark.parametrize(
    "value",
    ['"; DROP TABLE x; //', "a b", "a/b", "a.b", "1e5", "1.", ".5", "--1", "1-1", "x\n", "1\n"]
    + ["é", "٣", "@x", "", "1 ", " x", "x;"],
)
def test_bare_value_that_is_not_a_number_or_identifier_is_refused(value):
    with pytest.raises(ValueError, match=r"@@v@@ stands outside any string literal.*inside quotes"):
        substitute("DECLARE @n int = @@v@@;", {"v": value}, "s")


@pytest.mark.parametrize("value", ["0", "42", "-7", "3.25", "-0.5", "x", "_y1", "Extractors", "true"])
def test_numbers_and_identifiers_pass_bare(value):
    assert substitute("DECLARE @n int = @@v@@;", {"v": value}, "s") == f"DECLARE @n int = {value};"


@pytest.mark.parametrize("value", [v for v in NORMAL if "\\" not in v])
def test_normal_paths_pass_unchanged_inside_quotes(value):
    script = 'DECLARE @in string = "@@v@@";\n// @COPY @@v@@ -> /tmp/out\n'
    assert substitute(script, {"v": value}, "s") == script.replace("@@v@@", value)


def test_paths_pass_unchanged_in_verbatim_strings_and_escaped_in_regular_ones():
    path = "C:\\data\\in.csv"
    assert substitute('@"@@v@@"', {"v": path}, "s") == f'@"{path}"'
    assert substitute('"@@v@@"', {"v": path}, "s") == '"C:\\\\data\\\\in.csv"'


def test_bare_path_is_refused():
    with pytest.raises(ValueError) as error:
        substitute(
            "@t = EXTRACT a string FROM @@in@@ USING Extractors.Csv();", {"in": "/tmp/a b/c.csv"}, "prep"
        )
    assert str(error.value) == (
        "step 'prep': @@in@@ stands outside any string literal, where only a plain number or identifier "
        "is accepted, got '/tmp/a b/c.csv'; put the placeholder inside quotes: \"@@in@@\""
    )


@pytest.mark.parametrize(
    ("template", "value", "words"),
    [
        (
            '"@@v@@"',
            "a\nb",
            "inside a string literal and its value contains the control character or line break U+000A",
        ),
        ('"@@v@@"', "a\x00", "U+0000"),
        (
            '@"@@v@@"',
            "a\rb",
            "inside a verbatim string literal and its value contains the control character or line break U+000D",
        ),
        (
            "// @@v@@",
            "a\u2028b",
            "inside a line comment and its value contains the control character or line break U+2028",
        ),
        ("/* @@v@@ */", "*/ DROP /*", "inside a block comment and its value contains '*/'"),
        ("'@@v@@'", "a", "inside a char literal ('...'), which holds one character"),
        ('$"{a}" "@@v@@"', "a", 'comes after an interpolated string ($"..."), which mlpipe does not scan'),
        ('"\\@@v@@"', '"', "the value of @@v@@ would end or extend its string literal"),
        ("/* *@@v@@ */", "/ DROP", "the value of @@v@@ would end or extend its block comment"),
    ],
)
def test_refusal_names_step_placeholder_and_reason(template, value, words):
    with pytest.raises(ValueError, match=r"^step 's': .*@@v@@") as error:
        substitute(template, {"v": value}, "s")
    assert words in str(error.value)


def test_long_value_is_shortened_in_the_message():
    with pytest.raises(ValueError) as error:
        substitute("x = @@v@@;", {"v": "/" * 10_000}, "s")
    assert "(10000 characters)" in str(error.value)
    assert len(str(error.value)) < 400


def test_random_values_never_change_the_structure():
    alphabet = "\"\\@/*'${}\n\ra1 ;\u201c-."
    rng = random.Random(20240601)
    refused = accepted = 0
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        for template in TEMPLATES.values():
            if check_safe(template, value) is None:
                refused += 1
            else:
                accepted += 1
    assert refused and accepted


# -- values and names -----------------------------------------------------------------------------


def test_unknown_placeholder_at_run_time_is_named():
    with pytest.raises(ValueError) as error:
        substitute('"@@a@@" "@@missing@@" "@@gone@@"', {"a": "1", "b": "2"}, "s")
    assert str(error.value) == (
        "step 's': the U-SQL script uses @@missing@@, @@gone@@, which has no value (known: a, b)"
    )


def test_every_occurrence_is_replaced_for_its_own_context():
    script = 'DECLARE @p string = "@@p@@";\nDECLARE @q string = @"@@p@@";\n// @@p@@\n'
    assert substitute(script, {"p": 'say "hi"'}, "s") == (
        'DECLARE @p string = "say \\"hi\\"";\nDECLARE @q string = @"say ""hi""";\n// say "hi"\n'
    )


def test_values_are_not_substituted_twice():
    result = substitute('"@@a@@" "@@b@@"', {"a": "@@b@@", "b": "x"}, "s")
    assert result == '"@@b@@" "x"'


def test_numbers_and_bools_become_text():
    assert substitute("@@n@@ @@f@@ @@b@@", {"n": 3, "f": 2.5, "b": True}, "s") == "3 2.5 True"
    with pytest.raises(TypeError, match="the value of @@n@@ must be a string"):
        substitute("@@n@@", {"n": [1]}, "s")


def test_placeholders_before_an_interpolated_string_still_work():
    assert substitute('"@@a@@" $"{x}"', {"a": "v"}, "s") == '"v" $"{x}"'


def test_script_without_placeholders_is_unchanged():
    script = 'OUTPUT @t TO "/o.csv"; // @@ not one\n'
    assert substitute(script, {}, "s") == script
