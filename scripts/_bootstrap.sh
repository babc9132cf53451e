# Sourced by the scripts in this folder: makes .venv with Python 3.11+ and installs the
# project into it, once. Reinstalls only when pyproject.toml changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Stampside needs Python 3.11 or newer as '$PY' (set PYTHON=/path/to/python3.11)." >&2
  exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV" >&2
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.stampside-installed-${STAMPSIDE_EXTRAS:-base}"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing Stampside into $VENV" >&2
  extras=""
  [ -n "${STAMPSIDE_EXTRAS:-}" ] && extras="[${STAMPSIDE_EXTRAS}]"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT$extras" >&2
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
