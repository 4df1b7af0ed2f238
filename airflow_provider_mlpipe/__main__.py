"""`python -m airflow_provider_mlpipe reuse list|show|clear`: see `reuse_cli`."""

import sys

from airflow_provider_mlpipe.reuse_cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
