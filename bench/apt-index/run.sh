#!/bin/sh
# Runs the APT index benchmark (lxl vs reprepro vs aptly, same debs, same run).
# Usage: bench/apt-index/run.sh [--count 2000] [--keep]
set -e
cd "$(dirname "$0")/../.."
exec node --import tsx bench/apt-index/run.ts "$@"
