#!/bin/sh
# Runs the upload benchmark: a 1 GiB rpm into a real `lxl server` over loopback vs cp.
# Usage: bench/upload/run.sh [--runs 3] [--size-mib 1024] [--server-cmd "node dist/cli/main.js"]
set -e
cd "$(dirname "$0")/../.."
exec node --import tsx bench/upload/run.ts "$@"
