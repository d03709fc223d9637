#!/usr/bin/env bash
# Installs the Debian 12 packages bastion needs to build and test. Used by `make` (README) and CI.
# Idempotent and quick when everything is already there.
set -euo pipefail

PACKAGES=(
  build-essential g++ cmake ninja-build pkg-config make
  clang-14 libclang-rt-14-dev libfuzzer-14-dev   # libFuzzer targets (make fuzz)
  libgtest-dev                                    # tests
  nlohmann-json3-dev                              # JSON
  libcli11-dev                                    # command-line parsing
  libutf8proc-dev                                 # Unicode categories and NFC for the tokenizer
  libboost1.81-dev                                # Asio + Beast: the HTTP/1.1 server
  libtomlplusplus-dev                             # the serve config file (TOML)
  libssl-dev openssl                              # TLS, the local CA, ACME crypto; `openssl s_client` in tests
  libcurl4-openssl-dev                            # outbound HTTPS: the ACME client (and model pulls)
  pebble                                          # Let's Encrypt's test ACME CA, for the ACME tests
  curl                                            # end-to-end tests talk to the server like users do
)
# End-to-end tests also use the openai and ollama npm clients. Machines that already have Node.js
# (e.g. from NodeSource, which bundles npm) keep it; others get Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
