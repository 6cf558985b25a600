#!/bin/sh
# The real i386 minimal 6.1 build through a running `lxl server` and `lxl worker`
# (fetch, patch, config, make, package, upload, publish), then checks of the
# published i386 .deb and the server-signed i686 .rpm. With ccache installed
# (as .ci/run installs it) the test runs in every test run and compiles
# through the cache the cached i386 build filled (~1-2 min); this script runs
# it without ccache too, compiling every object (about 5-7 min on 2 CPUs).
# Usage: scripts/i386-through-worker.sh   (as root on the CI machine; needs linux-source-6.1)
set -e
cd "$(dirname "$0")/.."
start=$(date +%s)
LXL_I386_FULL=1 node test/run.mjs e2e/worker-i386
echo "i386 through the worker: $(( $(date +%s) - start )) s in all (the 'full i386 worker build' line is the build alone)"
