#!/usr/bin/env bash
# Make the Label Studio venv that the Label Studio round-trip tests drive (tests/label_studio_driver.py),
# then a migrated template data dir in it that a test copies to start Label Studio in seconds.
# Label Studio lives in a venv of its own: it pins older numpy, pyarrow and pytz than nuchter needs.
# Idempotent: what is already there is kept.  Usage: [NUCHTER_LABEL_STUDIO_VENV=DIR] tests/setup_label_studio.sh
set -euo pipefail

LS_VERSION=1.23.2
SDK_VERSION=2.1.2
VENV="${NUCHTER_LABEL_STUDIO_VENV:-$HOME/.cache/nuchter/label-studio-venv}"
PY="$VENV/bin/python"
TEMPLATE="$VENV/template-data"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PIP_PROGRESS_BAR=off PIP_DISABLE_PIP_VERSION_CHECK=1

installed() {  # both packages at the wanted versions?
    local shown
    shown="$("$PY" -m pip show label-studio label-studio-sdk 2>/dev/null)" || return 1
    [[ "$(grep -c -x -e "Version: $LS_VERSION" -e "Version: $SDK_VERSION" <<<"$shown")" == 2 ]] \
        && grep -q -x "Name: label-studio" <<<"$shown" && grep -q -x "Name: label-studio-sdk" <<<"$shown"
}

if [[ -x "$PY" ]]; then
    echo "venv: $VENV exists"
else
    echo "venv: creating $VENV"
    python3 -m venv "$VENV"
fi

if installed; then
    echo "pip: label-studio $LS_VERSION and label-studio-sdk $SDK_VERSION already installed"
else
    echo "pip: installing label-studio==$LS_VERSION label-studio-sdk==$SDK_VERSION (takes a few minutes)"
    "$PY" -m pip install -q "label-studio==$LS_VERSION" "label-studio-sdk==$SDK_VERSION"
    rm -rf "$TEMPLATE"  # migrated by another version, if any
fi

if [[ -f "$TEMPLATE/label_studio.sqlite3" && -f "$TEMPLATE/.env" ]]; then
    echo "template: $TEMPLATE already migrated"
else
    echo "template: migrating $TEMPLATE (starts Label Studio once, about a minute)"
    rm -rf "$TEMPLATE" "$TEMPLATE.partial"
    "$PY" "$HERE/label_studio_driver.py" --migrate-only "$TEMPLATE.partial"
    mv "$TEMPLATE.partial" "$TEMPLATE"
fi
echo "done: NUCHTER_LABEL_STUDIO_VENV=$VENV"
