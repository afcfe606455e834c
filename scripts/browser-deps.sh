#!/usr/bin/env bash
# Installs what the real-browser test (web/e2e) needs besides Chromium
# (scripts/deps.sh installs that): playwright-core at a pinned version into
# web/e2e/node_modules, which git ignores. Playwright never downloads a
# browser here: the test launches /usr/bin/chromium.
set -euo pipefail

PLAYWRIGHT_CORE_VERSION=1.64.1

if ! command -v npm >/dev/null 2>&1; then
	sudo=""
	if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm
fi

cd "$(dirname "$0")/../web/e2e"
have="$(node -p "require('./node_modules/playwright-core/package.json').version" 2>/dev/null || true)"
if [ "$have" != "$PLAYWRIGHT_CORE_VERSION" ]; then
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-save --no-audit --no-fund "playwright-core@$PLAYWRIGHT_CORE_VERSION"
fi
