# shellcheck shell=bash
# Helpers shared by scripts/run and scripts/test (sourced, not executed).
#
#   md_ensure_debs PKG:CHECK...   install missing Debian packages (apt only when needed)
#   md_ensure_venv [EXTRAS]       .venv in the repo with maildesk installed editable
#
# Callers have already `cd`-ed to the repository root and set -euo pipefail.

md_log() { printf '%s\n' "$*" >&2; }
md_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
md_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        md_die "need root to run: $* (run as root or install sudo)"
    fi
}

md_deb_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

# md_ensure_debs PKG:CHECK ...
#   CHECK is a shell glob of a file the package provides; a package counts as
#   present when dpkg says it is installed and the file exists. apt-get update
#   runs once, only when something is missing.
MD_APT_UPDATED=
MD_DEBS_INSTALLED=()
md_ensure_debs() {
    local spec pkg check missing=()
    for spec in "$@"; do
        pkg=${spec%%:*}
        check=${spec#*:}
        if md_deb_installed "$pkg" && compgen -G "$check" >/dev/null; then
            continue
        fi
        missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 \
        || md_die "missing packages ${missing[*]} and no apt-get; install them by hand"
    md_log "== installing Debian packages: ${missing[*]} =="
    if [ -z "$MD_APT_UPDATED" ]; then
        md_as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
        MD_APT_UPDATED=1
    fi
    md_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" </dev/null
    MD_DEBS_INSTALLED+=("${missing[@]}")
}

# python3 >= 3.11 with a working venv module (Debian splits ensurepip off into
# python3-venv; install it when this is Debian's own python3).
md_ensure_python() {
    command -v python3 >/dev/null 2>&1 || md_die "python3 not found (need Python >= 3.11)"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || md_die "python3 is $(python3 -V 2>&1); maildesk needs Python >= 3.11"
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        local py
        py=$(python3 -c 'import sys; print(sys.executable)')
        if [ "${py#/usr/bin/}" != "$py" ] && command -v apt-get >/dev/null 2>&1; then
            local ver
            ver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
            md_ensure_debs "python${ver}-venv:/usr/lib/python${ver}/ensurepip/__init__.py"
        else
            md_die "$py cannot create virtual environments (no ensurepip); install its venv support"
        fi
    fi
}

# md_ensure_venv [EXTRAS]
#   Creates .venv if needed and runs `pip install -e .[EXTRAS]` unless the stamp
#   file says this pyproject.toml was already installed with those extras.
md_ensure_venv() {
    # Several people may run scripts in one work tree at once: one installs at a time.
    if command -v flock >/dev/null 2>&1; then
        local lock
        lock="${TMPDIR:-/tmp}/maildesk-venv-$(pwd | sha256sum | cut -c1-12).lock"
        exec 9>>"$lock"
        flock 9
        _md_ensure_venv "$@"
        flock -u 9
        exec 9>&-
    else
        _md_ensure_venv "$@"
    fi
}

_md_ensure_venv() {
    local extras=${1:-} target=. stamp=.venv/.maildesk-installed hash key
    [ -n "$extras" ] && target=".[$extras]"
    if [ -x .venv/bin/python ] && ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
        md_log "== .venv is broken (no working pip); recreating it =="
        rm -rf .venv
    fi
    if [ ! -x .venv/bin/python ]; then
        md_ensure_python
        md_log "== creating .venv =="
        python3 -m venv .venv || { rm -rf .venv; md_die "python3 -m venv .venv failed"; }
    fi
    hash=$({ cat pyproject.toml; .venv/bin/python -VV; } | sha256sum | cut -d' ' -f1)
    key="$hash ${extras:-base}"
    if [ -f "$stamp" ] && grep -qxF "$key" "$stamp"; then
        return 0
    fi
    md_log "== pip install -e '$target' (into .venv) =="
    .venv/bin/python -m pip install -q --disable-pip-version-check -e "$target" \
        || md_die "pip install -e '$target' failed"
    # A newer install replaces older stamps; an install with extras also covers the base.
    if [ -n "$extras" ]; then
        printf '%s\n%s\n' "$key" "$hash base" >"$stamp"
    else
        printf '%s\n' "$key" >"$stamp"
    fi
}

# md_ensure_lowest_venv EXTRAS
#   .venv-lowest with maildesk and the LOWEST versions pyproject.toml allows for its direct
#   dependencies (uv's --resolution lowest-direct), so every lower bound is tested. uv comes
#   from PyPI into .venv (md_ensure_venv first). Reinstalled when pyproject.toml changes.
md_ensure_lowest_venv() {
    local extras=${1:-} target=. stamp=.venv-lowest/.maildesk-installed key
    [ -n "$extras" ] && target=".[$extras]"
    key=$({ cat pyproject.toml; .venv/bin/python -VV; echo "$extras"; } | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && grep -qxF "$key" "$stamp"; then
        return 0
    fi
    if [ ! -x .venv/bin/uv ]; then
        md_log "== pip install uv (into .venv) =="
        .venv/bin/python -m pip install -q --disable-pip-version-check 'uv>=0.4' || md_die "pip install uv failed"
    fi
    md_log "== uv pip install --resolution lowest-direct -e '$target' (into .venv-lowest) =="
    rm -rf .venv-lowest
    .venv/bin/uv venv -q --python .venv/bin/python .venv-lowest || md_die "uv venv .venv-lowest failed"
    VIRTUAL_ENV=$PWD/.venv-lowest .venv/bin/uv pip install -q --resolution lowest-direct -e "$target" \
        || md_die "uv pip install --resolution lowest-direct -e '$target' failed"
    printf '%s\n' "$key" >"$stamp"
}
