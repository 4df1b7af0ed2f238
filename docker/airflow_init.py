"""One-off set-up of the docker compose deployment, run by the `airflow-init` service after `db migrate`.

It writes the SimpleAuthManager passwords file (the admin login comes from the environment, not from
a password Airflow would generate and print), creates the container of the default datastore when it
is a Blob datastore, and uploads the example pipeline's input data when the example is in the DAGs
folder. Every step is idempotent: `docker compose up airflow-init` can run again at any time.
"""

from __future__ import annotations

import json
import logging
import os
import runpy
import sys
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger("mlpipe.airflow_init")

#: The example's data script, relative to the DAGs folder (`python prepare_data.py` uploads wine.csv).
EXAMPLE_DATA_SCRIPT = Path("compare_models") / "prepare_data.py"
DEFAULT_USERNAME = "airflow"


def write_passwords(path: Path, passwords: Mapping[str, str]) -> Path:
    """Write SimpleAuthManager's passwords file ({user: password}), keeping users already in it."""
    existing: dict[str, str] = {}
    if path.exists():
        try:
            existing = json.loads(path.read_text() or "{}")
        except json.JSONDecodeError:
            log.warning("Replacing %s: it is not JSON", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**existing, **passwords}, indent=2) + "\n")
    path.chmod(0o600)
    return path


def prepare_default_datastore() -> str:
    """Create the default datastore's Blob container if it is missing; return what the datastore is."""
    from airflow_provider_mlpipe.hooks.resolve import resolve_datastore

    datastore = resolve_datastore(None)
    ensure_container = getattr(datastore, "ensure_container", None)
    if ensure_container is not None:
        ensure_container()
    return repr(datastore)


def upload_example_data(dags_folder: Path) -> bool:
    """Run the example's `prepare_data.py` (uploads its input to the default datastore) if it is there."""
    script = dags_folder / EXAMPLE_DATA_SCRIPT
    if not script.is_file():
        return False
    namespace = runpy.run_path(str(script))
    namespace["main"]()
    return True


def main(environ: Mapping[str, str] = os.environ) -> int:
    """Passwords file, datastore container, example data; settings from the compose environment."""
    from airflow.configuration import conf

    passwords_file = conf.get("core", "simple_auth_manager_passwords_file", fallback="")
    username = environ.get("_AIRFLOW_WWW_USER_USERNAME") or DEFAULT_USERNAME
    password = environ.get("_AIRFLOW_WWW_USER_PASSWORD")
    if passwords_file and password:
        write_passwords(Path(passwords_file), {username: password})
        print(f"Login: user {username!r}, password from _AIRFLOW_WWW_USER_PASSWORD ({passwords_file})")
    print(f"Default datastore: {prepare_default_datastore()}")
    dags_folder = Path(conf.get("core", "dags_folder"))
    if upload_example_data(dags_folder):
        print(f"Uploaded the example's input data ({EXAMPLE_DATA_SCRIPT})")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
