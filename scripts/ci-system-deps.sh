#!/usr/bin/env bash
# Installs the Debian packages the real-keychain, real-browser, real-terminal, real-git and Python-example tests need, so CI never skips
# them for lack of a secret service or a browser. Idempotent: installs only what is missing.
set -euo pipefail
packages=(dbus gnome-keyring libsecret-tools chromium tmux git python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages present: ${packages[*]}"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
