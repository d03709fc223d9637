#!/bin/sh
# Runs one end-to-end test file with Node's test runner; exits 77 (CTest: skipped) when Node.js or
# the npm clients are not available (npm_install.sh could not reach the registry); tests that use
# no npm package set BASTION_E2E_NO_NPM=1.
dir=$(dirname "$0")
command -v node >/dev/null 2>&1 || { echo "node not found: skipping"; exit 77; }
[ -n "$BASTION_E2E_NO_NPM" ] || { [ -d "$dir/node_modules/openai" ] && [ -d "$dir/node_modules/ollama" ]; } || { echo "npm clients not installed: skipping"; exit 77; }
exec node --test --test-reporter=spec "$dir/$1"
