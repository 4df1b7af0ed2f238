"""Put the example's input data on a datastore, like the v1 how-to's `upload_files` step.

Writes scikit-learn's bundled wine data set (178 samples, 13 features, 3 classes) as CSV
and uploads it to `compare_models/wine.csv` on the chosen datastore (default: the default).
Run once before the pipeline: `python dags/compare_models/prepare_data.py [datastore]`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

DATA_PATH = "compare_models"
DATA_FILE = "wine.csv"


def write_wine_csv(path: Path) -> Path:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame.to_csv(path, index=False)
    return path


def main(datastore_name: str | None = None) -> int:
    from airflow_provider_mlpipe import Datastore

    datastore = Datastore(datastore_name) if datastore_name else Datastore.default()
    with tempfile.TemporaryDirectory() as folder:
        csv = write_wine_csv(Path(folder) / DATA_FILE)
        datastore.upload_files([csv], target_path=DATA_PATH, overwrite=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
