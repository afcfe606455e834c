#!/usr/bin/env bash
# Installs what building and testing the MCU needs on Debian 12, and nothing
# when it is already there. Run as root (or with sudo available).
set -euo pipefail

packages=(
  pkg-config gcc libc6-dev
  libopus-dev libopusfile-dev
  libx264-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev
  protobuf-compiler
  ffmpeg sox espeak-ng
  libspeexdsp-dev libwebrtc-audio-processing-dev
  chromium nodejs
  nginx libnginx-mod-rtmp libnginx-mod-stream
  gstreamer1.0-tools gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gir1.2-gst-rtsp-server-1.0 python3-gi python3-gst-1.0
)
if [ "${MCU_DEPS_EXTRA:-}" != "" ]; then
  # shellcheck disable=SC2206
  packages+=(${MCU_DEPS_EXTRA})
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    echo "deps: Go is at /usr/local/go/bin but not on PATH" >&2
  else
    echo "deps: Go 1.26 is required (https://go.dev/doc/install)" >&2
  fi
  exit 1
fi

# playwright-core for the real-browser test (web/e2e), into a git-ignored folder.
bash "$(dirname "$0")/browser-deps.sh"
