# Sourced by .ci/test and .ci/lab, from the repository root: make .venv and install the kit.

# Make .venv if it is missing, with $PYTHON (default python3), and install the kit into it,
# editable, with the extras in $1 (such as "lab,test"). The install runs again only when
# pyproject.toml has changed since the last one with the same extras.
ensure_venv() {
    local extras=$1
    local python=${PYTHON:-python3}
    local stamp=".venv/.installed-${extras//,/-}"
    if [ ! -x .venv/bin/python ]; then
        if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "wslib needs Python 3.11 or newer as '$python'; set PYTHON=python3.12, say." >&2
            exit 1
        fi
        echo "==> Creating .venv with $("$python" --version)"
        "$python" -m venv .venv
    fi
    if ! cmp -s pyproject.toml "$stamp"; then
        echo "==> Installing wslib[$extras] into .venv"
        .venv/bin/python -m pip install --disable-pip-version-check -e ".[$extras]"
        cp pyproject.toml "$stamp"
    fi
}
