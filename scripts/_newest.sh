# Sourced by scripts/test: the newest Home Assistant stacks run on Python 3.14, which Debian
# sid has and these machines do not. A sid chroot is made once per machine with debootstrap
# (about a minute, 0.8 GB) and cached; in it two venvs, each (re)installed when its file
# changes: /opt/venv from requirements_newest.txt (the newest release with a test plugin) and
# /opt/venv-demo from requirements_demo_newest.txt (the newest release, for the demo). The
# repository is bind-mounted at the same path inside, so paths agree. Needs root (or sudo).
set -euo pipefail

# What the chroot is made with; the cached chroot is made again when this changes. The extras
# come after, without their recommendations (debootstrap cannot configure all of those):
# libturbojpeg0 and ffmpeg, as Home Assistant (camera, ffmpeg) logs errors without them and
# its container ships both; chromium for the panel's browser test.
SID_PACKAGES=python3.14,python3.14-venv,python3.14-dev,build-essential,ca-certificates
SID_EXTRAS="libturbojpeg0 ffmpeg chromium"

newest_dir() {
    local recipe
    recipe=$(echo "$SID_PACKAGES $SID_EXTRAS" | sha256sum | cut -c1-8)
    echo "${BLE_RTLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ble-rtls}/sid-python3.14-$recipe"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "error: the newest stack needs root or sudo (debootstrap, chroot, mount);" \
            "scripts/test --stack oldest runs without" >&2
        exit 1
    fi
}

# The Debian mirror the host already uses.
debian_mirror() {
    local uri
    uri=$(grep -h -m1 -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | head -n1 | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//')
    echo "${uri:-http://deb.debian.org/debian}"
}

ensure_debootstrap() {
    if command -v debootstrap >/dev/null 2>&1; then
        return
    fi
    echo "Installing Debian's debootstrap package" >&2
    if ! DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q debootstrap >/dev/null 2>&1; then
        as_root apt-get update -q >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q debootstrap >/dev/null
    fi
}

# Runs a command inside the chroot with a clean environment (the host's pip settings point at
# files the chroot does not have).
in_chroot() {
    local dir="$1"
    shift
    as_root chroot "$dir" /usr/bin/env -i PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
        PIP_CERT=/etc/ssl/certs/ca-certificates.crt "$@"
}

ensure_newest_stack() {
    local root="$1"
    local dir
    dir="$(newest_dir)"
    if [ ! -x "$dir/usr/bin/python3.14" ]; then
        ensure_debootstrap
        echo "Making a Debian sid chroot with Python 3.14 in $dir (about a minute)" >&2
        # Chroots of an earlier recipe go: each holds a few GB.
        as_root rm -rf "$(dirname "$dir")"/sid-python3.14-*
        mkdir -p "$(dirname "$dir")"
        if ! as_root debootstrap --variant=minbase \
                --include="$SID_PACKAGES" \
                sid "$dir.partial" "$(debian_mirror)" >"$(dirname "$dir")/debootstrap.log" 2>&1; then
            tail -20 "$(dirname "$dir")/debootstrap.log" >&2
            echo "error: debootstrap failed; full log in $(dirname "$dir")/debootstrap.log" >&2
            exit 1
        fi
        # The host's own certificate authorities (a registry behind a proxy needs them).
        if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
            as_root cp /usr/local/share/ca-certificates/*.crt "$dir.partial/usr/local/share/ca-certificates/"
        fi
        in_chroot "$dir.partial" update-ca-certificates >/dev/null
        as_root mount -t proc proc "$dir.partial/proc"
        # shellcheck disable=SC2086  # the extras are a word list
        if ! in_chroot "$dir.partial" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
                --no-install-recommends $SID_EXTRAS >"$(dirname "$dir")/extras.log" 2>&1; then
            as_root umount "$dir.partial/proc"
            tail -20 "$(dirname "$dir")/extras.log" >&2
            echo "error: installing $SID_EXTRAS failed; full log in $(dirname "$dir")/extras.log" >&2
            exit 1
        fi
        as_root umount "$dir.partial/proc"
        as_root mv "$dir.partial" "$dir"
    fi
    install_pins "$dir" /opt/venv "$root/requirements_newest.txt"
    install_pins "$dir" /opt/venv-demo "$root/requirements_demo_newest.txt"
}

# A venv in the chroot with a requirements file's pins, (re)installed when the file changes.
install_pins() {
    local dir="$1" venv="$2" requirements="$3"
    local stamp="$dir$venv/.requirements.sha256"
    local wanted
    wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        return
    fi
    echo "Installing $(basename "$requirements") into the chroot's $venv (about a minute)" >&2
    [ -x "$dir$venv/bin/python" ] || in_chroot "$dir" python3.14 -m venv "$venv"
    as_root cp "$requirements" "$dir/tmp/requirements.txt"
    if ! in_chroot "$dir" "$venv/bin/pip" install -q -r /tmp/requirements.txt >"$dir.pip.log" 2>&1; then
        tail -30 "$dir.pip.log" >&2
        echo "error: installing $(basename "$requirements") failed; full log in $dir.pip.log" >&2
        exit 1
    fi
    echo "$wanted" | as_root tee "$stamp" >/dev/null
}

# Runs a command in the repository inside the chroot: /proc, /dev and the repository mounted
# for the run (one run at a time per chroot), unmounted after it.
run_newest() {
    local root="$1"
    shift
    local dir
    dir="$(newest_dir)"
    (
        flock 9
        as_root mkdir -p "$dir$root"
        # A run that was killed may have left its mounts.
        as_root umount -q "$dir$root" "$dir/dev" "$dir/proc" 2>/dev/null || true
        as_root mount -t proc proc "$dir/proc"
        as_root mount --bind /dev "$dir/dev"
        as_root mount --bind "$root" "$dir$root"
        trap 'as_root umount "$dir$root" "$dir/dev" "$dir/proc"' EXIT
        in_chroot "$dir" PYTHONPATH="$root/pi_proxy:$root/companion_app" \
            /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$root" "$@"
    ) 9>"$dir.lock"
}
