"""The neutral pipeline graph: steps checked, ordered and described in plain values.

Sits between the authoring objects and Airflow: `build_graph` collects the steps a pipeline
needs, finds every problem at once, and describes each step's inputs, outputs and arguments
as plain data that the translation layer hands to operators.
"""

from __future__ import annotations

import functools
import re
from collections import namedtuple
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_mlpipe.authoring.data import (
    DataPathInput,
    PipelineData,
    PipelineParameter,
)
from airflow_provider_mlpipe.authoring.datastore import DataReference, Datastore
from airflow_provider_mlpipe.authoring.steps import (
    PipelineStep,
    SourceFileLookup,
    StepSequence,
    data_of,
    encode_tokens,
)
from airflow_provider_mlpipe.contract import CONTINUE_ON_STEP_FAILURE, REGENERATE_OUTPUTS
from airflow_provider_mlpipe.step_kinds import operator_path_for

if TYPE_CHECKING:
    from airflow_provider_mlpipe.specs import InputSpec, OutputSpec
    from airflow_provider_mlpipe.tokens import Token

_NOT_TASK_ID_CHARS = re.compile(r"[^\w-]", re.ASCII)


@functools.lru_cache(maxsize=4096)
def task_id_for(step_name: str) -> str:
    """Airflow task id of a step: its name with every character other than [A-Za-z0-9_-] as '_'."""
    return _NOT_TASK_ID_CHARS.sub("_", step_name.strip())[:200]


_STEP_NODE_FIELDS = (
    "name task_id operator operator_kwargs parameters allow_reuse version compute_target upstream "
    "inputs outputs arguments source_directory script_path"
)


class StepNode(namedtuple("StepNode", _STEP_NODE_FIELDS)):
    """A step with everything the translation needs, in plain values (no authoring objects).

    Immutable. `operator` is the dotted path of the operator class that runs the step (see
    `step_kinds`), `operator_kwargs` the step kind's own arguments for it. (A plain namedtuple:
    DAG files import this module, and a dataclass or a typed NamedTuple costs far more to define.)
    """

    __slots__ = ()
    name: str
    task_id: str
    operator: str
    operator_kwargs: dict[str, Any]
    parameters: list[str]  # names of the PipelineParameters it uses
    allow_reuse: bool
    version: str | None
    compute_target: str | None
    upstream: list[str]  # step names
    inputs: list[InputSpec]
    outputs: list[OutputSpec]
    arguments: list[Token]
    source_directory: Path | None
    script_path: Path | None


class PipelineGraph(namedtuple("PipelineGraph", "nodes parameters description base_dir")):
    """Validated steps in an order where every step comes after the ones it depends on."""

    __slots__ = ()
    nodes: list[StepNode]
    parameters: dict[str, PipelineParameter]
    description: str | None
    base_dir: Path

    def node(self, step_name: str) -> StepNode:
        return next(n for n in self.nodes if n.name == step_name)


class PipelineSteps(list):
    """A pipeline's steps, flattened, with the order its StepSequences give.

    `sequence_after[id(step)]`: the steps a StepSequence runs it after. Kept beside the steps
    (not added to their `run_after`) so a step shared by two pipelines is ordered in each by
    that pipeline's own sequences only.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sequence_after: dict[int, list[PipelineStep]] = {}


def flatten_steps(steps: Any) -> PipelineSteps:
    """v1 accepts nested lists of steps (the seed passes `steps=[compareModels]`), StepSequences,
    and a PipelineData (for the step that writes it)."""
    flat = PipelineSteps()
    seen: set[int] = set()

    def collect(item: Any) -> list[PipelineStep]:
        """Add the steps of `item`; returns them in order."""
        if isinstance(item, PipelineStep):
            if id(item) not in seen:
                seen.add(id(item))
                flat.append(item)
            return [item]
        if isinstance(item, list | tuple):
            for step_id, after in getattr(item, "sequence_after", {}).items():  # a Pipeline's steps
                flat.sequence_after.setdefault(step_id, []).extend(after)
            found = []
            for part in item:
                if isinstance(part, PipelineStep):  # the common case, without a call
                    if id(part) not in seen:
                        seen.add(id(part))
                        flat.append(part)
                    found.append(part)
                else:
                    found += collect(part)
            return found
        if isinstance(item, StepSequence):
            found: list[PipelineStep] = []
            previous: list[PipelineStep] = []
            for part in item:
                current = collect(part)
                for step in current:
                    after = flat.sequence_after.setdefault(id(step), [])
                    after += [b for b in previous if not any(b is a for a in after)]
                previous = current or previous
                found += current
            return found
        if isinstance(item, PipelineData):
            if not item.producers:
                raise ValueError(
                    f"pipeline steps: PipelineData {item.name!r} has no producer; list it in the "
                    "outputs of the step that writes it"
                )
            return collect(item.producers[0])
        raise TypeError(f"pipeline steps must be steps, lists of steps or StepSequences, got {item!r}")

    collect(steps)
    return flat


def with_closure(steps: list[PipelineStep]) -> list[PipelineStep]:
    """Add producers of used PipelineData and `run_after` targets that were not listed."""
    result = list(steps)
    known = {id(s) for s in result}
    index = 0
    while index < len(result):
        step = result[index]
        index += 1
        needed = [p for d in step.input_data if isinstance(d, PipelineData) for p in d.producers]
        for other in needed + step.run_after_steps:
            if id(other) not in known:
                known.add(id(other))
                result.append(other)
    return result


def build_graph(
    steps: list[PipelineStep],
    base_dir: Path,
    description: str | None = None,
    default_datastore: Datastore | None = None,
    default_source_directory: str | Path | None = None,
) -> tuple[PipelineGraph | None, list[str]]:
    """Check the pipeline and build its graph; returns (graph or None, every problem found)."""
    all_steps = with_closure(steps)
    sequence_after: dict[int, list[PipelineStep]] = getattr(steps, "sequence_after", {})
    files = SourceFileLookup(base_dir)
    problems: list[str] = []
    problems += _name_problems(all_steps)
    operators: dict[int, str] = {}  # step -> the class path of the operator that runs it
    for step in all_steps:
        problems += step.problems(files, default_source_directory)
        try:
            operators[id(step)] = operator_path_for(step)
        except TypeError as error:
            problems.append(str(error))
    producers, producer_problems = _producers(all_steps)
    problems += producer_problems
    parameters, used, parameter_problems = _parameters(all_steps)
    problems += parameter_problems
    for reserved in (REGENERATE_OUTPUTS, CONTINUE_ON_STEP_FAILURE):
        if reserved in parameters:
            problems.append(f"PipelineParameter name {reserved!r} is reserved for a run control")

    upstream: dict[int, list[PipelineStep]] = {}
    for step in all_steps:
        before: list[PipelineStep] = []
        for item in step.inputs:
            data = data_of(item)
            if not isinstance(data, PipelineData):
                continue
            producer = producers.get(id(data))
            if producer is None:
                problems.append(
                    f"step {step.name!r}: input {item.name!r} is not connected to any previous step "
                    f"(no step lists PipelineData {data.name!r} in its outputs)"
                )
            elif producer is step:
                problems.append(f"step {step.name!r}: PipelineData {data.name!r} is its own input and output")
            elif not any(producer is b for b in before):
                before.append(producer)
        for other in step.run_after_steps:
            if other is step:
                problems.append(f"step {step.name!r}: run_after() names the step itself")
            elif not any(other is b for b in before):
                before.append(other)
        for other in sequence_after.get(id(step), ()):
            if other is step:
                problems.append(f"step {step.name!r}: a StepSequence lists it twice, so runs it after itself")
            elif not any(other is b for b in before):
                before.append(other)
        upstream[id(step)] = before

    ordered, cycle = _topological_order(all_steps, upstream)
    if cycle:
        names = ", ".join(repr(s.name) for s in cycle)
        problems.append(f"steps {names} form a cycle (through their data or run_after)")
    if problems:
        return None, problems

    default_name = default_datastore.given_name if default_datastore is not None else None
    nodes = [
        _node(
            step,
            operators[id(step)],
            upstream[id(step)],
            used[id(step)],
            producers,
            *step.locate(files, default_source_directory),
            default_name,
        )
        for step in ordered
    ]
    return PipelineGraph(nodes, parameters, description, base_dir), []


def _node(
    step: PipelineStep,
    operator: str,
    before: list[PipelineStep],
    parameters: list[str],
    producers: dict[int, PipelineStep],
    source_directory: Path | None,
    script_path: Path | None,
    default_datastore: str | None,
) -> StepNode:
    inputs: list[InputSpec] = []
    for item in step.inputs:
        data = data_of(item)
        if isinstance(data, PipelineData):
            spec: dict[str, Any] = {
                "name": item.name,
                "mode": getattr(item, "mode", "mount"),
                "producer": producers[id(data)].name,
                "output_name": data.output_name,
            }
        elif isinstance(item, DataPathInput):
            spec = {"name": item.name, "mode": item.mode, "data_path_parameter": item.parameter.name}
        else:
            assert isinstance(data, DataReference)
            spec = {
                "name": data.name,
                "mode": data.mode,
                "datastore": data.datastore.given_name,
                "path_on_datastore": data.path_on_datastore,
            }
        placed = step.places_data_on_compute and not isinstance(item, PipelineData)
        if placed and item.path_on_compute:  # only when given: other specs (and reuse keys) unchanged
            spec["path_on_compute"] = item.path_on_compute
            spec["overwrite"] = bool(item.overwrite)  # type: ignore[union-attr]
        inputs.append(spec)  # type: ignore[arg-type]
    outputs: list[OutputSpec] = []
    for o in step.outputs:
        output: dict[str, Any] = {
            "name": o.output_name,
            "datastore": o.datastore.given_name if o.datastore is not None else default_datastore,
            "is_directory": o.is_directory,
            "mode": o.output_mode,
        }
        if o.output_path_on_compute and step.places_data_on_compute:
            output["path_on_compute"] = o.output_path_on_compute
        outputs.append(output)  # type: ignore[arg-type]
    arguments = encode_tokens(step.arguments, step)
    return StepNode(
        name=step.name,
        task_id=task_id_for(step.name),
        operator=operator,
        operator_kwargs=step.operator_kwargs(source_directory, script_path, arguments),
        parameters=parameters,
        allow_reuse=step.allow_reuse,
        version=step.version,
        compute_target=step.compute_target,
        upstream=[b.name for b in before],
        inputs=inputs,
        outputs=outputs,
        arguments=arguments,
        source_directory=source_directory,
        script_path=script_path,
    )


def _name_problems(steps: list[PipelineStep]) -> list[str]:
    problems = []
    by_name: dict[str, PipelineStep] = {}
    by_task_id: dict[str, PipelineStep] = {}
    for step in steps:
        if step.name in by_name:
            problems.append(f"two steps are named {step.name!r}: give each step a distinct name=")
            continue
        by_name[step.name] = step
        task_id = task_id_for(step.name)
        if not task_id.strip("_"):
            problems.append(f"step {step.name!r}: its name has no letters or digits for a task id")
        elif task_id in by_task_id:
            problems.append(
                f"steps {by_task_id[task_id].name!r} and {step.name!r} would share the task id "
                f"{task_id!r}: rename one of them"
            )
        by_task_id[task_id] = step
    return problems


def _producers(steps: list[PipelineStep]) -> tuple[dict[int, PipelineStep], list[str]]:
    producers: dict[int, PipelineStep] = {}
    problems = []
    for step in steps:
        for output in step.outputs:
            earlier = producers.get(id(output))
            if earlier is not None:
                problems.append(
                    f"PipelineData {output.name!r} is an output of two steps: {earlier.name!r} and "
                    f"{step.name!r} (one output has exactly one producer)"
                )
            else:
                producers[id(output)] = step
    return producers, problems


def _parameters(
    steps: list[PipelineStep],
) -> tuple[dict[str, PipelineParameter], dict[int, list[str]], list[str]]:
    """The pipeline's parameters by name, the names each step uses (by step id), and clashes."""
    parameters: dict[str, PipelineParameter] = {}
    used: dict[int, list[str]] = {}
    first_user: dict[str, str] = {}
    problems = []
    for step in steps:
        own = step.parameters()
        used[id(step)] = list(dict.fromkeys(p.name for p in own))
        for parameter in own:
            known = parameters.get(parameter.name)
            if known is None:
                parameters[parameter.name] = parameter
                first_user[parameter.name] = step.name
            elif known is not parameter and (
                known.default_value != parameter.default_value or known.value_type is not parameter.value_type
            ):
                first = first_user[parameter.name]
                problems.append(
                    f"PipelineParameter {parameter.name!r} has two defaults: {known.default_value!r} "
                    f"(step {first!r}) and {parameter.default_value!r} (step {step.name!r})"
                )
    return parameters, used, problems


def _topological_order(
    steps: list[PipelineStep], upstream: dict[int, list[PipelineStep]]
) -> tuple[list[PipelineStep], list[PipelineStep]]:
    """Kahn's algorithm keeping the listed order among ready steps; returns (order, steps on cycles)."""
    remaining = {id(s): len(upstream[id(s)]) for s in steps}
    downstream: dict[int, list[PipelineStep]] = {id(s): [] for s in steps}
    for step in steps:
        for before in upstream[id(step)]:
            downstream[id(before)].append(step)
    ready = [s for s in steps if remaining[id(s)] == 0]
    ordered: list[PipelineStep] = []
    while ready:
        step = ready.pop(0)
        ordered.append(step)
        for after in downstream[id(step)]:
            remaining[id(after)] -= 1
            if remaining[id(after)] == 0:
                ready.append(after)
    stuck = [s for s in steps if remaining[id(s)] > 0]
    # Steps merely downstream of a cycle are stuck too: peel them off so only the loop is named.
    changed = True
    while changed:
        on_loop = {id(s) for s in stuck}
        kept = [s for s in stuck if any(id(a) in on_loop for a in downstream[id(s)])]
        changed = len(kept) != len(stuck)
        stuck = kept
    return ordered, stuck
