"""Triggers: asynchronous waits for deferrable operators, run by Airflow's triggerer."""
