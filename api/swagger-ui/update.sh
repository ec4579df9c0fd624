#!/usr/bin/env bash
# Vendors the given version of the swagger-ui-dist npm package into this
# directory: only the files the page uses and their licence notices. Our own
# index.html and swagger-initializer.js are left alone.
#
#   api/swagger-ui/update.sh 5.35.0
#
# It records the version in README.md. Then check the page
# (go test -run TestSwaggerUI ./internal/httpapi) and commit the result.
set -euo pipefail
version="${1:?usage: update.sh VERSION (e.g. 5.35.0)}"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "swagger-ui-dist@$version" >/dev/null)
tar -xzf "$tmp/swagger-ui-dist-$version.tgz" -C "$tmp"

files=(
  swagger-ui-bundle.js
  swagger-ui-bundle.js.LICENSE.txt
  swagger-ui.css
  favicon-32x32.png
  LICENSE
  NOTICE
)
for f in "${files[@]}"; do
  cp "$tmp/package/$f" "$here/$f"
done
sed -i -E "s/^(Vendored version: swagger-ui-dist )[0-9][^ ]*/\1$version/" "$here/README.md"
echo "swagger-ui-dist $version vendored into $here"
