#!/usr/bin/env bash
# Packs the npm tarballs from a built clone (`npm run build` first), the
# napi-rs way, without publishing anything:
#
#   1. `napi artifacts` copies the built addon into its platform package,
#      npm/linux-x64-gnu/ (made by `napi create-npm-dirs`, committed);
#   2. `napi pre-publish --skip-optional-publish --dry-run` checks that
#      package (name, os, cpu, libc, the .node it names) against the main
#      package; it publishes nothing and makes no GitHub release;
#   3. `npm pack` writes the main tarball (with the optionalDependencies
#      that pre-publish adds at release time) and the platform tarball.
#
# Only this machine's target is built here (x86_64-unknown-linux-gnu), so
# the napi steps read scripts/napi-host.json, which names that target alone;
# package.json's "napi.targets" lists every target the release workflow
# (.github/workflows/release.yml) builds.
#
# Usage: scripts/pack.sh [destination directory, default: the repository]
# Prints the two tarball paths, main first.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEST=$(mkdir -p "${1:-$ROOT}" && cd "${1:-$ROOT}" && pwd)
NAPI=(node "$ROOT/node_modules/@napi-rs/cli/dist/cli.js")
CONFIG=scripts/napi-host.json
PLATFORM=linux-x64-gnu
NODE_FILE=mqtt-rs-client.$PLATFORM.node

if [ ! -f "$NODE_FILE" ] || [ ! -f dist/typescript/mqtt.js ]; then
  echo "pack.sh: $NODE_FILE or dist/typescript/mqtt.js is missing; run npm run build first" >&2
  exit 1
fi

# Test files may pack at the same time: one at a time through npm/.
exec 9>"$ROOT/npm/.pack.lock"
flock 9

# napi artifacts searches a directory for <binaryName>.<platform>.node: give
# it one holding the fresh build only (the repository holds node_modules/).
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp "$NODE_FILE" "$STAGE/"
"${NAPI[@]}" artifacts -c "$CONFIG" --output-dir "$STAGE" --npm-dir npm >&2
"${NAPI[@]}" pre-publish -c "$CONFIG" --npm-dir npm --skip-optional-publish --dry-run >&2

# The main package gets its optionalDependencies (one per npm/<platform>/,
# same version) the way `napi pre-publish` gives them at release time: in
# the packed manifest only. The committed package.json has none, so that
# `npm ci` in a clone never looks for platform packages that are not
# published.
MAIN="$STAGE/main"
mkdir -p "$MAIN"
npm pack --ignore-scripts --json --pack-destination "$STAGE" >"$STAGE/main.json"
tar xzf "$STAGE/$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[0].filename)' "$STAGE/main.json")" -C "$MAIN" --strip-components=1
node -e '
  const fs = require("fs"), path = require("path");
  const [manifest, npmDir] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(manifest, "utf8"));
  pkg.optionalDependencies = {};
  for (const dir of fs.readdirSync(npmDir).sort()) {
    const file = path.join(npmDir, dir, "package.json");
    if (!fs.existsSync(file)) continue;
    const { name } = JSON.parse(fs.readFileSync(file, "utf8"));
    pkg.optionalDependencies[name] = pkg.version;
  }
  fs.writeFileSync(manifest, JSON.stringify(pkg, null, 2) + "\n");
' "$MAIN/package.json" "$ROOT/npm"
main=$(cd "$MAIN" && npm pack --ignore-scripts --json --pack-destination "$DEST" | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8"))[0].filename)')
platform=$(cd "npm/$PLATFORM" && npm pack --ignore-scripts --json --pack-destination "$DEST" | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8"))[0].filename)')
echo "$DEST/$main"
echo "$DEST/$platform"
