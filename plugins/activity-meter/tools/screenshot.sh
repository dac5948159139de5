#!/usr/bin/env bash
# Screenshot of the Activity Meter editor while it listens to a song, headless: a virtual X
# server (Xvfb), a JACK server on its dummy driver, the standalone app, and jack-play feeding
# the song into the app's inputs. Needs: xvfb x11-apps jackd2 jack-tools imagemagick, and
#   cargo build --release -p activity-meter --features standalone --bin activity-meter-standalone
# (libjack-jackd2-dev, libasound2-dev to build it).
#
#   bash plugins/activity-meter/tools/screenshot.sh song.wav docs/activity-meter.png [seconds]
set -euo pipefail
cd "$(dirname "$0")/../../.."
SONG=${1:?usage: screenshot.sh SONG.wav OUT.png [SECONDS]}
PNG=${2:?usage: screenshot.sh SONG.wav OUT.png [SECONDS]}
SECS=${3:-40}
APP=target/release/activity-meter-standalone
[ -x "$APP" ] || { echo "$APP missing: build it with --features standalone"; exit 1; }
DISP=:${DISPLAY_NUM:-97}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
Xvfb "$DISP" -screen 0 1400x1000x24 -nolisten tcp > /tmp/screenshot-xvfb.log 2>&1 & pids+=($!)
jackd --no-realtime -d dummy -r 48000 -p 512 > /tmp/screenshot-jack.log 2>&1 & pids+=($!)
sleep 3
DISPLAY=$DISP LIBGL_ALWAYS_SOFTWARE=1 "$APP" --backend jack > /tmp/screenshot-app.log 2>&1 & pids+=($!)
sleep 5
jack-play "$SONG" > /tmp/screenshot-play.log 2>&1 & pids+=($!)
sleep 1
ins=$(jack_lsp | grep -i "activity" | grep -i "in" | grep -vi midi || true)
outs=$(jack_lsp | grep -i "jack-play" || true)
echo "app inputs: $ins"; echo "player outputs: $outs"
paste <(echo "$outs") <(echo "$ins") | while read -r o i; do [ -n "$o" ] && [ -n "$i" ] && jack_connect "$o" "$i"; done
sleep "$SECS"
mkdir -p "$(dirname "$PNG")"
xwd -root -display "$DISP" -silent | convert xwd:- -trim +repage "$PNG"
echo "wrote $PNG"
