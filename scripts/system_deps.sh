#!/usr/bin/env bash
# Install the Debian packages the project uses, when they are missing and we may install them.
#   scripts/system_deps.sh            graphviz (the `dot` binary for SVG/PNG/PDF export)
#   scripts/system_deps.sh --browser  graphviz, plus what the tests need: Chromium and ChromeDriver
#                                     for the browser tests, pdflatex to compile the LaTeX table
# Without root (or sudo) it only says what is missing; the app and tests then say what they skip.
# Under CI (CI set to anything but empty or "false") a package that cannot be installed is an
# error (exit 1): a CI run must not quietly skip the tests that need it.
# apt waits up to LOCK_WAIT_S seconds for a dpkg lock held by another apt (e.g. unattended
# upgrades on a fresh machine) instead of giving up at once.
set -u
LOCK_WAIT_S=${LOCK_WAIT_S:-300}
packages=()
command -v dot >/dev/null 2>&1 || packages+=(graphviz)
if [ "${1:-}" = "--browser" ]; then
  command -v chromium >/dev/null 2>&1 || packages+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
  command -v pdflatex >/dev/null 2>&1 || packages+=(texlive-latex-base)
fi
[ ${#packages[@]} -eq 0 ] && exit 0

in_ci() { [ -n "${CI:-}" ] && [ "${CI:-}" != "false" ]; }
give_up() {  # $1: the sentence; an error under CI, a note elsewhere
  if in_ci; then echo "error: $1" >&2; exit 1; fi
  echo "note: $1" >&2
  exit 0
}

if [ "$(id -u)" = 0 ]; then sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"
else
  give_up "missing Debian packages: ${packages[*]} (install them with apt-get as root)"
fi
if ! command -v apt-get >/dev/null 2>&1; then
  give_up "missing packages: ${packages[*]} (no apt-get here; install them with your package manager)"
fi
echo "installing Debian packages: ${packages[*]}"
lock=(-o "DPkg::Lock::Timeout=${LOCK_WAIT_S}")
if ! $sudo apt-get "${lock[@]}" update -qq >/dev/null \
   || ! DEBIAN_FRONTEND=noninteractive $sudo apt-get "${lock[@]}" install -y -qq \
        "${packages[@]}" >/dev/null; then
  give_up "could not install ${packages[*]}; the features that need them will say so"
fi
exit 0
