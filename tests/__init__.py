"""golive's tests (see tests/conftest.py for the shared fixtures)."""

import os

# pytest-xdist's workers (scripts/test runs one per core) start with COLUMNS=80 and
# LINES=24 in their environment. Rich would fix the CLI's consoles at that width when
# conftest imports golive.cli.output; in a single process they follow COLUMNS as each
# test sets it (tests/conftest.py, Cli). This package is imported before conftest, so
# every worker starts from the environment a single process has.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _size in ("COLUMNS", "LINES"):
        os.environ.pop(_size, None)
