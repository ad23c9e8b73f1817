# Sourced by scripts/test, scripts/bench and scripts/demo: finds Python >= 3.13, creates
# .venv when missing and (re)installs the pinned requirements when they change.
set -euo pipefail

find_python() {
    local candidate
    if command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
        command -v python3.13
        return
    fi
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    for candidate in $(ls -d "$pyenv_root"/versions/3.13.* 2>/dev/null | sort -V -r); do
        if [ -x "$candidate/bin/python3" ]; then
            echo "$candidate/bin/python3"
            return
        fi
    done
    echo "error: Python >= 3.13 not found: put python3.13 on PATH or install it with pyenv (pyenv install 3.13.0)" >&2
    exit 1
}

ensure_venv() {
    local root="$1"
    local venv="$root/.venv"
    if [ ! -x "$venv/bin/python" ]; then
        echo "Creating $venv" >&2
        "$(find_python)" -m venv "$venv"
    fi
    local stamp="$venv/.requirements.sha256"
    local wanted
    wanted=$(cat "$root/requirements_test.txt" "$root/pyproject.toml" "$root/pi_proxy/pyproject.toml" | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        echo "Installing pinned requirements into $venv (a few minutes on a fresh machine)" >&2
        local log="$venv/pip-install.log"
        if ! { "$venv/bin/python" -m pip install -r "$root/requirements_test.txt" \
                && "$venv/bin/python" -m pip install --no-deps --no-build-isolation --config-settings editable_mode=compat -e "$root" \
                && "$venv/bin/python" -m pip install --no-deps --no-build-isolation -e "$root/pi_proxy"; } >"$log" 2>&1; then
            grep -v "is ignored" "$log" | tail -40 >&2
            echo "error: installing the requirements failed; full log in $log" >&2
            exit 1
        fi
        echo "$wanted" > "$stamp"
    fi
}

# Home Assistant's camera component (which it loads at start) logs an error without
# libturbojpeg; HA's own container ships it. Installed from Debian's packages when missing.
ensure_turbojpeg() {
    if ldconfig -p 2>/dev/null | grep -q libturbojpeg; then
        return
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "note: install libturbojpeg (Home Assistant logs an error without it)" >&2
        return
    fi
    echo "Installing Debian's libturbojpeg0 package" >&2
    if [ "$(id -u)" -eq 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
    if ! DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -q libturbojpeg0 >/dev/null 2>&1; then
        "${apt_get[@]}" update -q >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -q libturbojpeg0 >/dev/null 2>&1 \
            || echo "note: could not install libturbojpeg0 (Home Assistant logs an error without it)" >&2
    fi
}

# Headless Chromium for the browser tests and the screenshots: Debian's package, installed
# when missing (nothing downloads a browser of its own).
ensure_chromium() {
    if command -v chromium >/dev/null 2>&1; then
        return
    fi
    echo "Installing Debian's chromium package" >&2
    if [ "$(id -u)" -eq 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
    if ! DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -q chromium >/dev/null 2>&1; then
        "${apt_get[@]}" update -q >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -q chromium >/dev/null
    fi
}
