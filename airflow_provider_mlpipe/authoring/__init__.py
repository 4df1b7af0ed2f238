"""The v1-style authoring API: plain objects, no Airflow or cloud imports."""
