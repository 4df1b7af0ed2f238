"""An example step kind, as another package would add one: `greet_step.py` (the authoring module,
with its one registry line) and `greet_operator.py` (the operator). Nothing else is needed."""
