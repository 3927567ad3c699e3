# Shared by scripts/test and scripts/run: get uv and the locked virtual environment.
# uv itself is installed from PyPI into a private venv under the cache directory, so a
# fresh machine needs nothing but python3.

UV_VERSION=0.13.8
CIBOT_CACHE_DIR="${CIBOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cibot}"
export UV_PYTHON_DOWNLOADS=never

ensure_uv() {
  if command -v uv >/dev/null 2>&1 && [[ "$(uv --version | cut -d' ' -f2)" == "$UV_VERSION" ]]; then
    return 0
  fi
  local venv="$CIBOT_CACHE_DIR/uv-$UV_VERSION"
  if [[ ! -x "$venv/bin/uv" ]]; then
    echo "installing uv $UV_VERSION into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  export PATH="$venv/bin:$PATH"
}

ensure_venv() {
  ensure_uv
  # Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (as on some CI
  # images), every `cibot` process would otherwise compile its whole import graph again
  # (several seconds each, and the tests start hundreds of them).
  uv sync --locked --quiet --compile-bytecode
  .venv/bin/python -m compileall -q src >/dev/null
}
