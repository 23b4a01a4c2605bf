#!/bin/bash
# Builds the Debian packages (debian/: ferry, libferry0, libferry-dev) into
# OUT, then runs lintian on them (an error fails the build).
#
#   scripts/make-deb.sh build-deb
#
# dpkg-buildpackage writes its .deb files next to the source tree, so the
# tree (the files git knows, committed or not) is copied to OUT/src first.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:?usage: $0 OUTDIR}")
version=$(dpkg-parsechangelog -S Version)
src=$out/src/ferry-$version
rm -rf "$out"
mkdir -p "$src"
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -a -t "$src"
(cd "$src" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-nocheck} parallel=${JOBS:-2}" \
	dpkg-buildpackage -us -uc -b)
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out"/
rm -rf "$out/src"
ls -l "$out"/*.deb
# lintian: errors fail; warnings are shown.
lintian --fail-on error --tag-display-limit 0 "$out"/*.changes
