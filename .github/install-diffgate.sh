#!/usr/bin/env bash
# Install diffgate VERSION into DEST (DEST/bin/diffgate), fastest way first:
#   1. the release binary for this runner, its SHA-256 checked against the
#      release's .sha256 file (a mismatch stops here: never a fallback);
#   2. the wheel from PyPI (diffgate-sql; binary wheels only, never built
#      from an sdist), into a venv of its own;
#   3. building from source with cargo (minutes), unless
#      DIFFGATE_BUILD_FROM_SOURCE=false.
# The last line printed is the installed binary's path.
#
# Settings (environment):
#   DIFFGATE_RELEASE_URL   where the release's files are (default: the
#                          GitHub release v$VERSION of DIFFGATE_REPOSITORY)
#   DIFFGATE_REPOSITORY    owner/name (default diffgate/diffgate)
#   DIFFGATE_SOURCE        the source tree cargo builds (default: this
#                          script's repository)
#   PIP_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX: pip's own, for the wheel
set -euo pipefail

version="${1:?usage: install-diffgate.sh VERSION DEST}"
dest="${2:?usage: install-diffgate.sh VERSION DEST}"
here="$(cd "$(dirname "$0")" && pwd)"
source_dir="${DIFFGATE_SOURCE:-$(dirname "$here")}"
repository="${DIFFGATE_REPOSITORY:-diffgate/diffgate}"
base="${DIFFGATE_RELEASE_URL:-https://github.com/$repository/releases/download/v$version}"
mkdir -p "$dest/bin"

exe=""
case "$(uname -s)" in
  Linux) os=unknown-linux-gnu ;;
  Darwin) os=apple-darwin ;;
  MINGW* | MSYS* | CYGWIN* | Windows_NT) os=pc-windows-msvc; exe=.exe ;;
  *) os="" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x86_64 ;;
  aarch64 | arm64) arch=aarch64 ;;
  *) arch="" ;;
esac
bin="$dest/bin/diffgate$exe"

sha256() {
  if command -v sha256sum >/dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# 1. The release binary.
if [ -n "$os" ] && [ -n "$arch" ]; then
  target="$arch-$os"
  if [ -n "$exe" ]; then ext=zip; else ext=tar.gz; fi
  archive="diffgate-$version-$target.$ext"
  tmp="$(mktemp -d)"
  if curl -fsSL --retry 3 -o "$tmp/$archive" "$base/$archive" \
    && curl -fsSL --retry 3 -o "$tmp/$archive.sha256" "$base/$archive.sha256"; then
    want="$(cut -d' ' -f1 < "$tmp/$archive.sha256")"
    got="$(sha256 "$tmp/$archive")"
    if [ "$want" != "$got" ]; then
      echo "diffgate: $base/$archive does not match its published SHA-256 ($got, expected $want); not installing it" >&2
      exit 1
    fi
    if [ "$ext" = zip ]; then
      unzip -q -o "$tmp/$archive" "diffgate$exe" -d "$dest/bin"
    else
      tar -xzf "$tmp/$archive" -C "$dest/bin" "diffgate$exe"
    fi
    rm -rf "$tmp"
    echo "Installed the diffgate $version release binary for $target (SHA-256 $got)" >&2
    echo "$bin"
    exit 0
  fi
  rm -rf "$tmp"
  echo "No diffgate $version release binary for $target at $base" >&2
fi

# 2. The wheel, in a venv of its own.
python="$(command -v python3 || command -v python || true)"
if [ -n "$python" ] && "$python" -m venv "$dest/venv" >/dev/null 2>&1; then
  if [ -n "$exe" ]; then venv_bin="$dest/venv/Scripts"; else venv_bin="$dest/venv/bin"; fi
  if "$venv_bin/python" -m pip install -q --disable-pip-version-check \
    --only-binary=:all: "diffgate-sql==$version"; then
    ln -sf "$venv_bin/diffgate$exe" "$bin" 2>/dev/null || cp "$venv_bin/diffgate$exe" "$bin"
    echo "Installed the diffgate $version wheel" >&2
    echo "$bin"
    exit 0
  fi
  echo "No diffgate $version wheel for this platform" >&2
fi

# 3. From source.
if [ "${DIFFGATE_BUILD_FROM_SOURCE:-true}" = false ]; then
  echo "diffgate: no release binary or wheel of $version for this runner, and building from source is off" >&2
  exit 1
fi
echo "Building diffgate $version from source with cargo (this takes minutes)" >&2
# The release binaries' features, less the built-in OpenSSL (this machine's
# is used).
cargo install --locked --path "$source_dir" --root "$dest" --features delta,postgres >&2
echo "$bin"
