"""The v1 published-pipeline REST API, served inside `airflow api-server` by the provider's plugin."""
