"""The ``golive`` command line: assembly only; each concept brings its own commands."""
