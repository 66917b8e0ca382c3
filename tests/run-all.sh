#!/bin/sh
# The test command: install what is needed, build with ASan/UBSan and
# warnings as errors, run every test with ctest.  Must run as root (the
# integration tests create network namespaces).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

deploy/setup.sh

build=${SEKISHO_BUILD_DIR:-"$top/build-test"}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug \
	-DCMAKE_C_COMPILER=clang -DSEKISHO_WERROR=ON -DSEKISHO_SANITIZE=ON -DSEKISHO_FUZZ=ON
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -j 2 --timeout 600 "$@"
