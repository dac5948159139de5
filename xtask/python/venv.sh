#!/usr/bin/env bash
# Creates (or updates) the project's Python environment in .venv/ at the workspace root and
# installs the mirsuite package (editable) with its pinned dependencies from pyproject.toml.
# `cargo xtask` runs Python from .venv/bin/python; nothing is installed into the system
# interpreter. Usage: bash xtask/python/venv.sh   (idempotent: a no-op when up to date)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv"
project="$root/xtask/python/pyproject.toml"
stamp="$venv/.mirsuite-installed"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || {
    echo "cannot create $venv: install Python's venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
  }
fi
# Reinstall only when the dependency list changed since the last install.
if [ ! -f "$stamp" ] || ! cmp -s "$project" "$stamp"; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root/xtask/python"
  cp "$project" "$stamp"
fi
