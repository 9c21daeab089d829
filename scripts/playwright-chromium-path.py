"""Print where Playwright keeps its own Chromium (`make playwright-chromium` links it)."""

from playwright.sync_api import sync_playwright

with sync_playwright() as playwright:
    print(playwright.chromium.executable_path)
