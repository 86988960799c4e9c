# The two set-up commands (see README): `make up` runs golive, `make test` runs every check.
.PHONY: up test venv clean

up: venv
	.venv/bin/golive up

test:
	scripts/test

venv:
	scripts/bootstrap

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache test-artifacts
