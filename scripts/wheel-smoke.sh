#!/usr/bin/env bash
# What `pip install mesh-tools` gives a user, without the repository beside it: build the sdist and the
# wheel from it (as a release would), install the wheel in a clean venv outside the repository, and run
# `mesh-tools demo` and the core eval suite from an empty directory. The install has no extras, so the
# eval also shows that a missing matplotlib costs only the chart.
#
# Usage: scripts/wheel-smoke.sh [PYTHON]   (PYTHON has `build` and pip>=22.3; default .venv/bin/python)
set -euo pipefail

repository="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-$repository/.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { printf "wheel-smoke [%s]: %s\n" "$(date +%T)" "$*"; }

step "building the sdist and the wheel"
"$python" -m build --quiet --outdir "$work/dist" "$repository" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log"; exit 1; }
# A warning at build time is a warning every user installing from source sees.
if grep -i "warning" "$work/build.log"; then
    step "the build printed warnings (above)"
    exit 1
fi
wheel=("$work"/dist/*.whl)

step "installing ${wheel[0]##*/} in a clean venv"
# The venv gets no pip of its own: the caller's installs into it, skipping the slow ensurepip, and
# without compiling the dependencies' bytecode up front (openai alone is thousands of modules).
"$python" -m venv --without-pip "$work/venv"
"$python" -m pip --python "$work/venv/bin/python" install --quiet --no-compile "${wheel[0]}"

# An empty directory, no checkout on any path, and no model key: both commands run offline.
mkdir "$work/run"
cd "$work/run"
run() { env -u PYTHONPATH -u OPENAI_API_KEY -u OPENAI_BASE_URL "$work/venv/bin/mesh-tools" "$@"; }

step "mesh-tools demo"
run demo --scripted --plain >"$work/demo.log" 2>&1 || { cat "$work/demo.log"; exit 1; }
grep -q "✓ valid" "$work/demo.log" && grep -q "✓ converged" "$work/demo.log" \
    || { cat "$work/demo.log"; step "the demo's document is not valid and converged"; exit 1; }

step "mesh-tools eval core --model scripted"
run eval core --model scripted --trials 1 --out report >"$work/eval.log" 2>&1 \
    || { cat "$work/eval.log"; exit 1; }
test -s report/report.json && test -s report/report.md \
    || { cat "$work/eval.log"; step "the eval wrote no report"; exit 1; }
grep -q "matplotlib is not installed" "$work/eval.log" \
    || { cat "$work/eval.log"; step "no note about the missing chart"; exit 1; }

step "ok: the installed wheel runs the demo and the core suite from $work/run"
