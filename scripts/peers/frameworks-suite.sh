# Shared by the suites' scripts here (sourced, not run): lays a library's own repository out at
# a real node_modules/<name>/ path (the hooks match modules by that path), installs its dev dependencies,
# runs its suite without and with `-r register.js` (OT_TRACER=jsonl), and compares the results test by test.
#
# Environment: PEERS_DIR (scratch root, default /work/peers/frameworks, never inside this repository),
# <LIB>_GIT (a local git directory or URL to take the tag from; default the GitHub repository).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PEERS_DIR=${PEERS_DIR:-/work/peers/frameworks}
case "$PEERS_DIR" in "$ROOT"/*) echo "PEERS_DIR must be outside the repository" >&2; exit 2 ;; esac

# export_tag <git dir or URL> <tag> <subdirectory or .> <destination>: the tagged tree, without .git.
# From a local git directory, the paths in EXPORT_EXCLUDE (space-separated) are left out: a mirror may
# lack their blobs.
export_tag() {
  local src=$1 tag=$2 sub=$3 dest=$4 tmp path
  local excludes=()
  rm -rf "$dest" && mkdir -p "$dest"
  if [ -d "$src" ]; then
    for path in ${EXPORT_EXCLUDE:-}; do excludes+=(":(exclude)$path"); done
    git --git-dir="$src" archive --format=tar "$tag" "$sub" "${excludes[@]}" | tar -x -C "$dest" --strip-components="$( [ "$sub" = . ] && echo 0 || echo $(( $(tr -cd / <<<"$sub" | wc -c) + 1 )) )"
  else
    tmp=$(mktemp -d)
    git clone --quiet --depth 1 --branch "$tag" "$src" "$tmp/repo"
    (cd "$tmp/repo/$sub" && tar -c --exclude=.git .) | tar -x -C "$dest"
    rm -rf "$tmp"
  fi
}

# prepare <dir> <git dir or URL> <tag> <subdirectory or .> <command...>: exports the tag into <dir> and
# runs the command there (installing its dev dependencies), once; its output goes to <dir>.prepare.log.
prepare() {
  local dir=$1 src=$2 tag=$3 sub=$4 marker
  shift 4
  marker="$dir/.prepared-$(tr -c 'A-Za-z0-9.\n' _ <<<"$tag")"
  [ -f "$marker" ] && return 0
  export_tag "$src" "$tag" "$sub" "$dir"
  (cd "$dir" && "$@") >"$dir.prepare.log" 2>&1
  touch "$marker"
}

# require_spans <results dir> <component> <what the hook patches>: prints how many spans of <component>
# the run with the hooks recorded, and fails when there is none (the hook never applied).
require_spans() {
  local spans
  spans=$(node -e "
    let n = 0;
    for (const line of require('fs').readFileSync(process.argv[1], 'utf8').split('\n'))
      if (line && JSON.parse(line).tags.component === process.argv[2]) n++;
    console.log(n);" "$1/traces.jsonl" "$2" 2>/dev/null || echo 0)
  echo "$2 spans recorded with hooks: $spans ($1/traces.jsonl)"
  if [ "$spans" -eq 0 ]; then
    echo "WARNING: no $2 span with the hooks: the hook did not patch $3" >&2
    return 1
  fi
}

# require_proof <results dir> <library> <library dir>: for hooks that make no span (the loggers'): runs the
# `proof.js` the caller wrote to the results dir (`node proof.js <library dir> <agent dir>`, exit 0 only
# when it finds the hook applied) without the preload, where it must fail, then with it, where it must pass.
require_proof() {
  local out=$1 lib=$2 dir=$3
  echo "proof without the preload (must find no hook):"
  if NODE_OPTIONS="" node "$out/proof.js" "$dir" "$out/agent"; then
    echo "ERROR: the proof found the hook without the preload" >&2; return 1
  fi
  echo "proof with the preload (OT_TRACER=jsonl):"
  if ! OT_TRACER=jsonl OT_TRACER_FILE="$out/proof-traces.jsonl" NODE_OPTIONS="-r $out/agent/register.js" \
    node "$out/proof.js" "$dir" "$out/agent"; then
    echo "WARNING: the $lib hook did not apply" >&2; return 1
  fi
}

# require_redis <library>: REDIS_SERVER and REDIS_CLI from PATH (the service script's: run under
# scripts/with-services.js), and 127.0.0.1:6379 free, where <library>'s tests expect their own Redis.
require_redis() {
  REDIS_SERVER=$(command -v redis-server) || { echo "redis-server not found: run under scripts/with-services.js" >&2; exit 2; }
  REDIS_CLI=$(command -v redis-cli) || { echo "redis-cli not found" >&2; exit 2; }
  if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then echo "127.0.0.1:6379 is in use: $1's tests need it for their own Redis" >&2; exit 2; fi
  trap stop_redis EXIT
}

# start_redis: a fresh, empty Redis on 127.0.0.1:6379 for one run (after require_redis); stop_redis stops it
# and removes its files (also at exit).
REDIS_PID=
REDIS_DIR=
start_redis() {
  local i
  REDIS_DIR=$(mktemp -d)
  "$REDIS_SERVER" --port 6379 --bind 127.0.0.1 --save '' --appendonly no --dir "$REDIS_DIR" \
    --logfile "$REDIS_DIR/redis.log" &
  REDIS_PID=$!
  for i in $(seq 50); do "$REDIS_CLI" -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
}
stop_redis() {
  if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null || true; fi
  if [ -n "$REDIS_DIR" ]; then rm -rf "$REDIS_DIR"; fi
  REDIS_PID=
  REDIS_DIR=
}

# link_dist_dependencies <package dir> <node_modules dir>: links each dependency of the installed package
# at <package dir> into <node_modules dir>, as Node finds it from that package (node_modules/ upwards; not
# every package exports its package.json), in place of what is there.
link_dist_dependencies() {
  local pkg=$1 modules=$2 dep src
  for dep in $(node -p "Object.keys(require('$pkg/package.json').dependencies || {}).join(' ')"); do
    src=$(node -e "
      const path = require('path'), fs = require('fs');
      for (let d = path.resolve(process.argv[1]); ; d = path.dirname(d)) {
        const c = path.join(d, 'node_modules', process.argv[2]);
        if (fs.existsSync(path.join(c, 'package.json'))) { console.log(c); break; }
        if (path.dirname(d) === d) process.exit(1);
      }" "$pkg" "$dep")
    rm -f "$modules/$dep" && ln -s "$src" "$modules/$dep"
  done
}

# jest_results <jest or vitest JSON report> <root>: each test's outcome appended to $RESULTS
# (`ok|not ok<TAB>file > full name`, the file relative to <root>); skipped tests count as passing, and a
# file that failed to run as one failing test.
jest_results() {
  NODE_OPTIONS="" node -e "
    const path = require('path');
    const r = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
    const out = [];
    for (const f of r.testResults) {
      const file = path.relative(process.argv[2], f.name);
      if (f.assertionResults.length === 0) out.push((f.status === 'failed' ? 'not ok' : 'ok') + '\t' + file);
      for (const a of f.assertionResults) out.push((a.status === 'failed' ? 'not ok' : 'ok') + '\t' + file + ' > ' + a.fullName);
    }
    process.stdout.write(out.join('\n') + '\n');" "$1" "$2" >>"$RESULTS"
}

# tap_results <tap file> [prefix]: its results appended to $RESULTS.
tap_results() {
  node "$ROOT/scripts/peers/tap-results.js" ${2:+--prefix "$2"} <"$1" >>"$RESULTS"
}

# run_twice <results dir> <command...>: runs the command in the current directory once without the hooks
# and once with them (built into the results directory, so that this repository's dist/ is left alone);
# each run writes its results to the `$RESULTS` file it is given.
run_twice() {
  local out=$1; shift
  rm -rf "$out" && mkdir -p "$out/agent"
  "$ROOT/node_modules/.bin/tsc" -p "$ROOT/tsconfig.json" --outDir "$out/agent/dist"
  cp "$ROOT/register.js" "$ROOT/package.json" "$out/agent/"
  ln -s "$ROOT/node_modules" "$out/agent/node_modules"
  echo "== without hooks"
  : >"$out/plain.results"
  RESULTS="$out/plain.results" NODE_OPTIONS="" "$@" >"$out/plain.log" 2>&1 || true
  echo "== with hooks (OT_TRACER=jsonl)"
  : >"$out/hooked.results"
  RESULTS="$out/hooked.results" OT_TRACER=jsonl OT_TRACER_FILE="$out/traces.jsonl" \
    NODE_OPTIONS="-r $out/agent/register.js" "$@" >"$out/hooked.log" 2>&1 || true
  node "$ROOT/scripts/peers/compare-results.js" "$out/plain.results" "$out/hooked.results"
}
