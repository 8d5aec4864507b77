#!/usr/bin/env bash
# The tests: install, lint (ruff), type-check (mypy), then pytest (doctests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check kg api tests benchmarks
.venv/bin/mypy kg api
exec .venv/bin/python -m pytest "$@"
