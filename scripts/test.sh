#!/usr/bin/env bash
# Every test: type check, unit tests (Vitest, Node) and browser tests (Playwright, Debian Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-chromium.sh
npm run --silent prepare-model
npx tsc --noEmit
npx vitest run
npx playwright test
