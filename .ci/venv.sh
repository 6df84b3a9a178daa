# Sourced by .ci/test and .ci/lab, from the repository root: make the venv and install the kit.
#
# The venv is .venv, or the folder named by WSLIB_VENV (CI makes a second one, with the lab
# extra alone, to run the notebooks as a learner's `bash .ci/lab` would).
VENV=${WSLIB_VENV:-.venv}

# Make $VENV if it is missing, with $PYTHON (default python3), and install the kit into it,
# editable, with the extras in $1 (such as "lab,test"). The install runs again only when
# pyproject.toml has changed since the last one with the same extras.
ensure_venv() {
    local extras=$1
    local python=${PYTHON:-python3}
    local stamp="$VENV/.installed-${extras//,/-}"
    if [ ! -x "$VENV/bin/python" ]; then
        if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "wslib needs Python 3.11 or newer as '$python'; set PYTHON=python3.12, say." >&2
            exit 1
        fi
        echo "==> Creating $VENV with $("$python" --version)"
        "$python" -m venv "$VENV"
    fi
    if ! cmp -s pyproject.toml "$stamp"; then
        echo "==> Installing wslib[$extras] into $VENV"
        "$VENV/bin/python" -m pip install --disable-pip-version-check -e ".[$extras]"
        cp pyproject.toml "$stamp"
    fi
}
