#!/usr/bin/env bash
# Installs what remora needs and is missing, then configures and builds it. Idempotent: a second
# run installs nothing and only rebuilds what changed.
#   tools/setup.sh            install + build (build/; a new build without -Werror, an existing one
#                             as it is configured, so tools/demo after tools/test rebuilds nothing)
#   REMORA_WERROR=ON tools/setup.sh   same, warnings as errors (what tools/test uses)
#   REMORA_BUILD_DIR=build-asan REMORA_SANITIZE=address,undefined tools/setup.sh
#                             a second build, with sanitizers and without the benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  g++ cmake ninja-build pkg-config
  libboost1.81-dev libboost-filesystem1.81-dev liblmdb-dev lmdb-utils libcereal-dev libtree-sitter-dev
  libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libcli11-dev libyaml-cpp-dev nlohmann-json3-dev
  libcpp-httplib-dev libseccomp-dev libssl-dev libre2-dev libdtl-dev libxxhash-dev libgit2-dev
  bubblewrap python3 chromium etcd-server
)
# Tree-sitter grammars at ABI 14 (Debian's libtree-sitter reads ABI 13-14; 0.25.x grammars are ABI 15).
GRAMMARS=(tree-sitter-python@0.23.6 tree-sitter-c@0.23.6 tree-sitter-cpp@0.23.4 tree-sitter-javascript@0.23.1)
# The dashboard's browser test drives Debian's chromium with playwright-core (no browser download).
NPM_TOOLS=(playwright-core@1.65.2)
DEPS_DIR=.deps

say() { printf 'setup: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches the grammars; a machine with its own Node.js keeps it.
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

need_npm=()
for g in "${GRAMMARS[@]}" "${NPM_TOOLS[@]}"; do
  name=${g%@*} version=${g##*@}
  have=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$DEPS_DIR/node_modules/$name/package.json" 2>/dev/null || true)
  [ "$have" = "$version" ] || need_npm+=("$g")
done
if [ ${#need_npm[@]} -gt 0 ]; then
  say "installing from npm: ${need_npm[*]}"
  mkdir -p "$DEPS_DIR"
  # --ignore-scripts: the packages' own scripts build Node bindings that remora does not use.
  npm install --prefix "$DEPS_DIR" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error "${GRAMMARS[@]}" "${NPM_TOOLS[@]}" >/dev/null
fi

build=${REMORA_BUILD_DIR:-build}
sanitize=${REMORA_SANITIZE:-}
configure=(-DREMORA_SANITIZE="$sanitize" -DREMORA_BENCH="$([ -n "$sanitize" ] && echo OFF || echo ON)")
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DREMORA_WERROR="${REMORA_WERROR:-OFF}" "${configure[@]}" >/dev/null
elif [ -n "${REMORA_WERROR:-}" ] && ! grep -q "REMORA_WERROR:BOOL=$REMORA_WERROR" "$build/CMakeCache.txt"; then
  cmake -S . -B "$build" -G Ninja -DREMORA_WERROR="$REMORA_WERROR" "${configure[@]}" >/dev/null
fi
cmake --build "$build" -- -j"$(nproc)" | { grep -vE '^(\[[0-9]+/[0-9]+\] |ninja: no work to do)' || true; }
test "${PIPESTATUS[0]}" = 0
