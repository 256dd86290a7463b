#!/usr/bin/env bash
# The project's checks, exactly as CI runs them: lint, types, then the test suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$REPO_ROOT"
ruff check egoget tests bench scripts
ruff format --check egoget tests bench scripts
mypy egoget
python -m pytest -p no:cacheprovider "$@"
