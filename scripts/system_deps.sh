#!/usr/bin/env bash
# Install the Debian packages the project uses, when they are missing and we may install them.
#   scripts/system_deps.sh            graphviz (the `dot` binary for SVG/PNG/PDF export)
#   scripts/system_deps.sh --browser  graphviz, plus Chromium and ChromeDriver for the browser test
# Without root (or sudo) it only says what is missing; the app and tests then say what they skip.
set -u
packages=()
command -v dot >/dev/null 2>&1 || packages+=(graphviz)
if [ "${1:-}" = "--browser" ]; then
  command -v chromium >/dev/null 2>&1 || packages+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
fi
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"
else
  echo "note: missing Debian packages: ${packages[*]} (install them with apt-get as root)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: missing packages: ${packages[*]} (no apt-get here; install them with your package manager)" >&2
  exit 0
fi
echo "installing Debian packages: ${packages[*]}"
$sudo apt-get update -qq >/dev/null && \
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null \
  || echo "note: could not install ${packages[*]}; the features that need them will say so" >&2
exit 0
