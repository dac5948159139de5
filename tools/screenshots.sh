#!/usr/bin/env bash
# Screenshots of every plugin editor, headless, current with the shipped models: a virtual X
# server (Xvfb), a JACK server on its dummy driver, each plugin's standalone app (the plugin and
# its editor in nice-plug's standalone wrapper) and jack-play feeding the demo song into the
# apps that listen to audio. The Melody Generator runs on the standalone's dummy backend, whose
# transport plays, so its loop and playhead show.
#
#   bash tools/screenshots.sh [OUT_DIR=docs] [SONG=demo/demo-song.flac] [SECONDS=14]
#
# Needs (Debian/Ubuntu): xvfb x11-apps x11-utils jackd2 jack-tools imagemagick, and to build the apps
# libjack-jackd2-dev libasound2-dev; the script builds them first (release; cargo rebuilds only
# what changed).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs}
SONG=${2:-demo/demo-song.flac}
SECS=${3:-14}
PLUGINS=(activity-meter stem-separator drum-transcriber melody-generator)

missing=()
for tool in Xvfb xwd xwininfo convert jackd jack-play jack_lsp jack_connect; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing tools: ${missing[*]}"
  echo "install them with: sudo apt-get install -y xvfb x11-apps x11-utils jackd2 jack-tools imagemagick libjack-jackd2-dev libasound2-dev"
  exit 1
fi
features=$(printf '%s/standalone,' "${PLUGINS[@]}")
pkgs=$(printf -- '-p %s ' "${PLUGINS[@]}")
# SKIP_BUILD=1 uses the apps as they are; ONLY="activity-meter …" shoots some of them;
# PROFILE=debug uses (and builds) the dev profile, quicker to rebuild while editing an editor.
PROFILE=${PROFILE:-release}
if [ "${SKIP_BUILD:-}" != 1 ]; then
  flag=--release; [ "$PROFILE" = debug ] && flag=
  # shellcheck disable=SC2086
  cargo build $flag -j2 $pkgs --features "${features%,}" --bins
fi

DISP=:${DISPLAY_NUM:-97}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
Xvfb "$DISP" -screen 0 1600x1200x24 -nolisten tcp > /tmp/screenshots-xvfb.log 2>&1 & pids+=($!)
jackd --no-realtime -d dummy -r 44100 -p 512 > /tmp/screenshots-jack.log 2>&1 & pids+=($!)
sleep 3
mkdir -p "$OUT"

shoot() {
  local plugin=$1 backend=$2
  local app=target/$PROFILE/$plugin-standalone
  DISPLAY=$DISP LIBGL_ALWAYS_SOFTWARE=1 "$app" --backend "$backend" -r 44100 > "/tmp/screenshots-$plugin.log" 2>&1 &
  local app_pid=$!
  sleep 5
  local play_pid=""
  if [ "$backend" = jack ]; then
    jack-play "$SONG" > /tmp/screenshots-play.log 2>&1 &
    play_pid=$!
    sleep 1
    local ins outs
    ins=$(jack_lsp | grep -v -i "jack-play\|midi\|system" | grep -i ":input_" | head -2 || true)
    outs=$(jack_lsp | grep -i "jack-play" | head -2 || true)
    paste <(echo "$outs") <(echo "$ins") | while read -r o i; do
      if [ -n "$o" ] && [ -n "$i" ]; then jack_connect "$o" "$i" || echo "warning: could not connect $o to $i"; fi
    done
  fi
  sleep "$SECS"
  # The app's window, whole: the screen cropped to the largest top-level window (the editors'
  # dark backgrounds would confuse a trim of the screen).
  local geom
  geom=$(xwininfo -root -children -display "$DISP" | awk '/^ +0x/ {
      for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+x[0-9]+\+-?[0-9]+\+-?[0-9]+$/) {
        split($i, a, /[x+]/); print a[1] * a[2], $i } }' | sort -nr | head -1 | cut -d' ' -f2)
  xwd -root -display "$DISP" -silent | convert xwd:- -crop "$geom" +repage "$OUT/$plugin.png"
  echo "wrote $OUT/$plugin.png"
  [ -n "$play_pid" ] && kill "$play_pid" 2>/dev/null || true
  kill "$app_pid" 2>/dev/null || true
  wait "$app_pid" 2>/dev/null || true
  sleep 1
}

for p in ${ONLY:-${PLUGINS[*]}}; do
  if [ "$p" = melody-generator ]; then shoot "$p" dummy; else shoot "$p" jack; fi
done
