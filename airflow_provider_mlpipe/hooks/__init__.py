"""Hooks: clients of datastores and services, built from Airflow connections at run time."""
