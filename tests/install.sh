#!/usr/bin/env bash
# The install paths, end to end on this machine (run by .ci/run after it
# builds the wheel):
#   - the wheel, installed into a fresh venv, runs a bundled scenario;
#   - the release archive made from it by .github/package-binary.py, served
#     by a local web server standing in for the release host, is installed
#     by .github/install-diffgate.sh (the action's install step) with its
#     SHA-256 checked, and runs the scenario;
#   - an archive that does not match its SHA-256 is refused, nothing
#     installed;
#   - with no release, the wheel comes from a local package index (pip's
#     find-links page, from the same server);
#   - with neither and building from source off, the step fails saying so;
#   - the pre-commit hook (.pre-commit-hooks.yaml, with the wheel's diffgate
#     on the PATH) fails a commit that removes a column and passes one that
#     keeps the schema.
# usage: tests/install.sh WHEEL_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
wheels="$(cd "$1" && pwd)"
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "install test: $*" >&2
  exit 1
}
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
target="$(uname -m)-unknown-linux-gnu"

# The scenario's verdict with diffgate binary $1.
verdict() {
  "$1" run scenarios/rounding_change --format json --dead-letter "$work/dead.ndjson" \
    > "$work/report.json"
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["verdict"])' "$work/report.json"
}

echo "-- the wheel in a fresh venv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check --no-index \
  --find-links "$wheels" "diffgate-sql==$version"
"$work/venv/bin/diffgate" --version | grep -qx "diffgate $version" || fail "wheel: wrong version"
[ "$(verdict "$work/venv/bin/diffgate")" = review ] || fail "wheel: scenario verdict"

echo "-- the release binary from a local release host"
host="$work/host"
mkdir -p "$host/v$version" "$host/tampered" "$host/none" "$host/wheels"
python3 .github/package-binary.py "$wheels" "$target" "$host/v$version" >/dev/null
cp "$wheels"/diffgate_sql-*.whl "$host/wheels/"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m http.server --bind 127.0.0.1 "$port" --directory "$host" >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do
  if curl -fs -o /dev/null "http://127.0.0.1:$port/"; then break; fi
  sleep 0.1
done
url="http://127.0.0.1:$port"
export DIFFGATE_BUILD_FROM_SOURCE=false
install() {
  local from="$1" dest="$2"
  shift 2
  env DIFFGATE_RELEASE_URL="$url/$from" "$@" \
    bash .github/install-diffgate.sh "$version" "$dest" > "$dest.out" 2> "$dest.err"
}
start="$(date +%s%N)"
install "v$version" "$work/release" || fail "release: $(cat "$work/release.err")"
took_ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "release binary for $target" "$work/release.err" || fail "release: $(cat "$work/release.err")"
bin="$(tail -n 1 "$work/release.out")"
[ "$bin" = "$work/release/bin/diffgate" ] || fail "release: printed $bin"
[ "$(verdict "$bin")" = review ] || fail "release: scenario verdict"
echo "   installed in $took_ms ms: $(cat "$work/release.err")"

echo "-- an archive that does not match its SHA-256 is refused"
archive="diffgate-$version-$target.tar.gz"
cp "$host/v$version/$archive.sha256" "$host/tampered/"
{ cat "$host/v$version/$archive"; printf 'x'; } > "$host/tampered/$archive"
if install tampered "$work/tampered"; then fail "a tampered archive was installed"; fi
grep -q "does not match its published SHA-256" "$work/tampered.err" || fail "tampered: $(cat "$work/tampered.err")"
[ ! -e "$work/tampered/bin/diffgate" ] || fail "tampered: a binary was left behind"

echo "-- no release binary: the wheel from a package index"
install none "$work/wheel" PIP_NO_INDEX=1 PIP_FIND_LINKS="$url/wheels/" \
  || fail "wheel: $(cat "$work/wheel.err")"
grep -q "Installed the diffgate $version wheel" "$work/wheel.err" || fail "wheel: $(cat "$work/wheel.err")"
[ "$(verdict "$(tail -n 1 "$work/wheel.out")")" = review ] || fail "wheel install: scenario verdict"

echo "-- neither, and no building from source: a clear failure"
if install none "$work/neither" PIP_NO_INDEX=1 PIP_FIND_LINKS="$url/none/"; then
  fail "installed from nowhere"
fi
grep -q "building from source is off" "$work/neither.err" || fail "neither: $(cat "$work/neither.err")"

echo "-- the pre-commit hook"
"$work/venv/bin/pip" install -q --disable-pip-version-check pre-commit==4.6.2
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t \
  GIT_COMMITTER_EMAIL=t@example.com GIT_CONFIG_NOSYSTEM=1 PRE_COMMIT_HOME="$work/pre-commit"
hooks="$work/hooks"
mkdir -p "$hooks"
cp .pre-commit-hooks.yaml "$hooks/"
git -C "$hooks" init -q
git -C "$hooks" add .
git -C "$hooks" commit -q -m hooks
project="$work/project"
mkdir -p "$project/gate"
git -C "$project" init -q
printf '[inputs]\norders = "orders.csv"\n[transform]\npath = "model.sql"\n[compare]\nkey = "id"\n' \
  > "$project/gate/diffgate.toml"
printf 'id,amount\n1,10\n2,20\n' > "$project/gate/orders.csv"
echo "SELECT id, amount FROM orders" > "$project/gate/model.sql"
cat > "$project/.pre-commit-config.yaml" <<YAML
repos:
  - repo: $hooks
    rev: $(git -C "$hooks" rev-parse HEAD)
    hooks:
      - id: diffgate-check-system
        args: [gate]
YAML
git -C "$project" add .
git -C "$project" commit -q -m v1
hook() {
  (cd "$project" && PATH="$work/venv/bin:$PATH" "$work/venv/bin/pre-commit" run --all-files) \
    > "$work/hook.out" 2>&1
}
echo "SELECT id FROM orders" > "$project/gate/model.sql"
if hook; then fail "pre-commit: a removed column passed: $(cat "$work/hook.out")"; fi
# shellcheck disable=SC2016 # backticks are the report's, not a command
grep -qF 'block   schema_breaking: breaking schema change: `amount` removed' "$work/hook.out" \
  || fail "pre-commit: $(cat "$work/hook.out")"
echo "SELECT id, amount + 0 AS amount FROM orders" > "$project/gate/model.sql"
hook || fail "pre-commit: the same schema failed: $(cat "$work/hook.out")"
echo "install paths and the pre-commit hook: ok"
