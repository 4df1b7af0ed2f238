"""Jinja templating of a step's parameter values, as Airflow templates any operator's fields.

A step's `arguments` and `params` (and a Databricks or ADLA step's parameters) are *tokens*: a
literal the author wrote (`{"value": text}` in a PythonScriptStep, a plain string in the others)
or a reference to an input, an output or a pipeline parameter (`{"input": name}`, ...). Only
literals are templates: references keep their names, and a pipeline parameter's value is bound
when the step runs, after rendering, so a value from a run's conf or a REST call is never rendered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from airflow_provider_mlpipe.operators.base import PipelineStepOperator

#: The key of a PythonScriptStep's literal token; tokens without it are references.
LITERAL_KEY = "value"
#: Jinja settings that start template syntax, with Jinja's defaults (None: not in use).
MARKER_SETTINGS = {
    "variable_start_string": "{{",
    "block_start_string": "{%",
    "comment_start_string": "{#",
    "line_statement_prefix": None,
    "line_comment_prefix": None,
}

Render = Callable[[Any], Any]


class TokenField:
    """Where one step argument's tokens are: template field `field`, or its dict's `key`.

    `label` is the step argument's v1 name, used in messages (`arguments`, `params`,
    `notebook_params`, ...). Operators keep theirs as constants: DAG files are parsed often
    (hence a plain class: a NamedTuple costs ~20x more to define).
    """

    __slots__ = ("field", "key", "label")

    def __init__(self, field: str, key: str | None, label: str) -> None:
        self.field = field
        self.key = key
        self.label = label

    def __repr__(self) -> str:
        return f"TokenField({self.field!r}, {self.key!r}, {self.label!r})"


def markers_of(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The strings that start template syntax under these Jinja settings (an env's or a DAG's kwargs)."""
    found = (settings.get(name, default) for name, default in MARKER_SETTINGS.items())
    return tuple(marker for marker in found if marker)


def env_markers(env: Any) -> tuple[str, ...]:
    """The strings that start template syntax in this Jinja environment."""
    return markers_of({name: getattr(env, name, default) for name, default in MARKER_SETTINGS.items()})


def render_token_fields(
    operator: PipelineStepOperator, locations: Iterable[TokenField], render: Render, markers: tuple[str, ...]
) -> None:
    """Render, in place, the literals among the operator's tokens; a literal stays a string.

    A literal without template syntax is passed on untouched (no Jinja pass, so native rendering
    cannot turn "1e3" into "1000.0"). A field holding no tokens (e.g. an XComArg) is rendered as
    Airflow renders any field.
    """
    for location in locations:
        value = getattr(operator, location.field)
        if location.key is None:
            value = _render_tokens(operator.step_name, location.label, value, render, markers)
        elif not isinstance(value, dict):
            value = _render_literal(operator.step_name, location.label, value, render, markers)
        elif location.key in value:
            tokens = _render_tokens(operator.step_name, location.label, value[location.key], render, markers)
            value = {**value, location.key: tokens}
        setattr(operator, location.field, value)


def _render_tokens(step: str, label: str, tokens: Any, render: Render, markers: tuple[str, ...]) -> Any:
    if isinstance(tokens, list | tuple):
        return [_render_token(step, f"{label}[{i}]", t, render, markers) for i, t in enumerate(tokens)]
    if isinstance(tokens, dict):
        return {k: _render_token(step, f"{label}[{k!r}]", t, render, markers) for k, t in tokens.items()}
    return _render_literal(step, label, tokens, render, markers)


def _render_token(step: str, where: str, token: Any, render: Render, markers: tuple[str, ...]) -> Any:
    if isinstance(token, dict):
        if LITERAL_KEY not in token:
            return token  # a reference: its name is never a template
        return {**token, LITERAL_KEY: _render_literal(step, where, token[LITERAL_KEY], render, markers)}
    return _render_literal(step, where, token, render, markers)


def _render_literal(step: str, where: str, literal: Any, render: Render, markers: tuple[str, ...]) -> Any:
    if isinstance(literal, str) and not any(marker in literal for marker in markers):
        return literal
    try:
        rendered = render(literal)
    except Exception as error:
        raise AirflowException(
            f"step {step!r}: {where} {literal!r} cannot be rendered: {type(error).__name__}: {error}"
        ) from error
    # Native rendering may give a dict or a number: a literal must stay a literal string.
    return str(rendered) if isinstance(literal, str) else rendered


def literal_texts(operator: PipelineStepOperator) -> list[tuple[str, Any, str]]:
    """(argument label, index or key, text) of each literal string among the operator's tokens."""
    found = []
    for location in operator.token_fields():
        value = getattr(operator, location.field)
        if location.key is not None:
            value = value.get(location.key) if isinstance(value, dict) else None
        if isinstance(value, dict):
            pairs: Iterable[tuple[Any, Any]] = value.items()
        elif isinstance(value, list | tuple):
            pairs = enumerate(value)
        else:
            continue
        for index, token in pairs:
            text = token.get(LITERAL_KEY) if isinstance(token, dict) else token
            if isinstance(text, str):
                found.append((location.label, index, text))
    return found


def syntax_problems(operators: Iterable[PipelineStepOperator], dag: DAG) -> list[str]:
    """Each literal with template syntax that the DAG's Jinja environment cannot parse, naming its step.

    Cheap enough for parse time: a step's literals are searched for template markers in one
    pass, only literals that contain one are parsed, and the environment is made only then.
    """
    markers = markers_of(dag.jinja_environment_kwargs or {})
    operators = list(operators)
    # One look at all literals first: most pipelines have no template at all.
    literals = {id(operator): literal_texts(operator) for operator in operators}
    everything = "\0".join(text for found in literals.values() for _label, _index, text in found)
    if not any(marker in everything for marker in markers):
        return []
    env = None
    problems = []
    for operator in operators:
        for label, index, text in literals[id(operator)]:
            if not any(marker in text for marker in markers):
                continue
            if env is None:
                env = dag.get_template_env()
            from jinja2 import TemplateSyntaxError

            try:
                env.parse(text)
            except TemplateSyntaxError as error:
                problems.append(
                    f"step {operator.step_name!r}: {label}[{index!r}] {text!r} is not a valid Jinja "
                    f"template: {error.message} (line {error.lineno}); write a literal '{{{{' as "
                    "{{ '{{' }} or inside {% raw %}...{% endraw %}"
                )
    return problems
