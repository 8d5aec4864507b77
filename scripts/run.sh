#!/usr/bin/env bash
# The main job: build the graph from the built-in demo sources, then serve the APIs.
# Usage: bash scripts/run.sh [--host HOST] [--port PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/kg build
exec .venv/bin/kg serve "$@"
