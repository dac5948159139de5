#!/usr/bin/env bash
# Packs what the GPU machine needs to render training data itself into gpu-carry/pack.tar.xz
# (ignored): the stripped release xtask binary (28 MB), the small training SoundFonts, the
# small Hydrogen kits and freepats' melodic GUS patches, xz-compressed (92 MB → 55 MB). The
# device tool carries at most 64 MiB, checkout included, so this stops above LIMIT_MB.
#
#   bash xtask/gpu/pack.sh            # then carry "gpu-carry" and run xtask/gpu/activity.sh there
set -euo pipefail
cd "$(dirname "$0")/../.."
LIMIT_MB=${LIMIT_MB:-60}
SF2_DIR=${SF2_DIR:-/usr/share/sounds/sf2}
KITS_DIR=${KITS_DIR:-/usr/share/hydrogen/data/drumkits}
FREEPATS_DIR=${FREEPATS_DIR:-/usr/share/midi/freepats}
# Training timbres only (../shared/DATA.md); FluidR3_GM (148 MB) does not fit.
FONTS=(TimGM6mb.sf2 sf_GMbank.sf2)
# Hydrogen kits under 8 MB with kick, snare and hi-hat; never "The Black Pearl 1.0" (a test kit).
KITS=("Audiophob" "ColomboAcousticDrumkit" "Gimme A Hand 1.0" "HardElectro1" "Millo-Drums_v.1"
      "Millo_MultiLayered2" "Millo_MultiLayered3" "circAfrique v4" "rumpf_kit_z01_h2" "ElectricEmpireKit" "VariBreaks")

cargo build --release -j2 -p xtask
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/sf2" "$stage/drumkits" "$stage/freepats/Tone_000"
cp target/release/xtask "$stage/xtask" && strip "$stage/xtask"
for f in "${FONTS[@]}"; do cp "$SF2_DIR/$f" "$stage/sf2/"; done
for k in "${KITS[@]}"; do
  if [ -d "$KITS_DIR/$k" ]; then cp -r "$KITS_DIR/$k" "$stage/drumkits/"; else echo "note: kit $k not installed"; fi
done
# freepats' melodic patches (the .pat files; drums and the .txt notes are not used).
if [ -d "$FREEPATS_DIR/Tone_000" ]; then
  cp "$FREEPATS_DIR"/Tone_000/*.pat "$stage/freepats/Tone_000/"
else
  echo "note: freepats not installed ($FREEPATS_DIR): the GPU data will have no GUS patches"
fi
rm -f gpu-carry/pack.tar.xz && mkdir -p gpu-carry
tar -C "$stage" -cJf gpu-carry/pack.tar.xz xtask sf2 drumkits freepats
# FLUID=1: also FluidR3_GM as xz in two parts of at most 57 MiB (gpu-carry/fluid-1, fluid-2),
# each carried by its own call (xtask/gpu/stash.sh) while the machine stays warm.
if [ "${FLUID:-0}" = 1 ]; then
  rm -rf gpu-carry/fluid-1 gpu-carry/fluid-2
  mkdir -p gpu-carry/fluid-1 gpu-carry/fluid-2
  xz -T2 -6 -c "$SF2_DIR/FluidR3_GM.sf2" > "$stage/fluid.xz"
  (cd "$stage" && sha256sum fluid.xz > fluid.xz.sha256 && split -b 57M -d fluid.xz fluid.xz.part)
  mv "$stage/fluid.xz.part00" gpu-carry/fluid-1/ && mv "$stage"/fluid.xz.part0[1-9] gpu-carry/fluid-2/
  cp "$stage/fluid.xz.sha256" gpu-carry/fluid-2/
  du -sm gpu-carry/fluid-*
fi
tracked=$(git ls-files -z | xargs -0 stat -c %s | awk '{s+=$1} END {print int(s/1048576)}')
carry=$(du -sm gpu-carry/pack.tar.xz | cut -f1)
echo "gpu-carry: ${carry} MiB (+ ${tracked} MiB checkout); limit ${LIMIT_MB} MiB"
[ $((carry + tracked)) -le "$LIMIT_MB" ] || { echo "too large to carry"; exit 1; }
