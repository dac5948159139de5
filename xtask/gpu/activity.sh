#!/usr/bin/env bash
# Runs ON the GPU machine (no cargo, nothing downloadable): renders the training data there with
# the carried binary and SoundFonts (16 cores), then trains the activity model on CUDA.
# Everything worth keeping lands in $OUT (the device tool brings it back): render.log (with the
# measured render throughput), train.log, run/best.pt, run/train.json, run/dataset.json, gpu.txt.
#
#   bash xtask/gpu/pack.sh                                   # here: fills gpu-carry/
#   run(carry=["gpu-carry/pack.tar.xz"], command="SONGS=3500 STEPS=16000 bash xtask/gpu/activity.sh")
#   a next call at once with REUSE=1 trains again on the same data (e.g. other training options).
# then here: cargo xtask export activity --run <files_at>/run --data data/synth … and eval.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-out}
SONGS=${SONGS:-3000}          # 30 s train songs rendered on the GPU machine
VAL=${VAL:-60}
STEPS=${STEPS:-12000}
BATCH=${BATCH:-256}
DATA=${DATA:-/tmp/gpu-data}
DEVICE=${DEVICE:-cuda}
JOBS=${JOBS:-$(nproc)}
CARRY=${CARRY:-/tmp/carry}
SYNTH=${SYNTH:-oxisynth}      # SoundFont synthesizer for the training data (dataset --synth)
mkdir -p "$OUT" "$CARRY"
python3 -c "import sys, tarfile; tarfile.open('gpu-carry/pack.tar.xz').extractall(sys.argv[1], filter='data')" "$CARRY"
chmod +x "$CARRY/xtask"
if ls gpu-stash/fluid.xz.part* > /dev/null 2>&1; then
  # FluidR3_GM, carried in parts by earlier calls (xtask/gpu/stash.sh): check and unpack.
  root=$PWD
  cat gpu-stash/fluid.xz.part* > /tmp/fluid.xz
  (cd /tmp && sha256sum -c "$root/gpu-stash/fluid.xz.sha256")
  python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open('/tmp/fluid.xz'), open(sys.argv[1], 'wb'))" "$CARRY/sf2/FluidR3_GM.sf2"
  rm -f /tmp/fluid.xz
  echo "FluidR3_GM.sf2 reassembled from gpu-stash"
fi
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true; nproc; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
t0=$(date +%s)
if [ "${REUSE:-0}" = 1 ] && [ -f "$DATA/dataset.json" ]; then
  # REUSE=1: train again on the data an earlier call rendered (it persists while the machine
  # stays warm, ~30 s between calls).
  echo "reusing $DATA (rendered by an earlier call)" | tee "$OUT/render.log"
else
"$CARRY/xtask" dataset --out "$DATA" --train "$SONGS" --val "$VAL" --test 0 --seconds 30 --rate 22050 \
  --jobs "$JOBS" --sf2-dir "$CARRY/sf2" --hydrogen "$CARRY/drumkits" --synth "$SYNTH" > "$OUT/render.log" 2>&1 \
  || { tail -20 "$OUT/render.log"; exit 1; }
fi
t1=$(date +%s)
tail -3 "$OUT/render.log"
echo "render: $((t1 - t0)) s"
PYTHONPATH=xtask/python python3 -m mirsuite.train activity --data "$DATA" --out "$OUT/run" --device "$DEVICE" \
  --threads "$JOBS" --steps "$STEPS" --batch "$BATCH" --eval-every $((STEPS / 6)) --log-every 500 \
  --arch allconv --mix-prob 0.3 --workers $((JOBS > 4 ? JOBS - 2 : 1)) "$@" 2>&1 | tee "$OUT/train.log"
t2=$(date +%s)
rm -f "$OUT/run/last.pt"   # optimizer state: not needed to export, and large
echo "render $((t1 - t0)) s, train $((t2 - t1)) s" | tee -a "$OUT/train.log"
