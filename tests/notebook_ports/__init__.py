"""Ports of Azure ML SDK v1's intro-to-pipelines notebooks (Azure/MachineLearningNotebooks,
how-to-use-azureml/machine-learning-pipelines/intro-to-pipelines) to this provider.

Each module performs one notebook's sequence of v1 calls, with only the import lines and the
workspace/compute lines changed; its docstring names the notebook and lists what changed and why.
The step scripts are this project's own, in `<module>_src/`. `tests/integration/test_notebook_ports.py`
runs every port against the embedded local Airflow and against a real Airflow deployment.
"""
