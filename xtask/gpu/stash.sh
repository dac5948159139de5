#!/usr/bin/env bash
# Runs ON the GPU machine: moves a carried part (gpu-carry/fluid-N) into gpu-stash/, an ignored
# folder that no call names in its carry, so it stays there while the machine is warm (it idles
# out after ~30 s: issue the next call at once). activity.sh then reassembles FluidR3_GM.
#   run(carry=["gpu-carry/fluid-1"], command="bash xtask/gpu/stash.sh fluid-1"), then fluid-2
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p gpu-stash
cp "gpu-carry/$1"/* gpu-stash/
ls -la gpu-stash
