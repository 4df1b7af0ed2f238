"""Work done inside a running task: working copies, inputs and outputs, the script process."""
