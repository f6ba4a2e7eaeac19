"""Screenshot a page written by ``s2s attend --output x.html`` (the README's pictures come from here).

    python docs/screenshot.py page.html docs/explorer.png [--width 1280 --height 760] [--hover ROW,COL] [--select TESTID=VALUE]
        [--click SELECTOR]

Drives the system Chromium through Playwright, as the browser tests do (tests/browser.py), with
the network blocked. ``--hover`` points at a grid cell of the first panel; ``--select`` sets a
picker in every panel first (``attention-kind=encoder``, ``head=2``, ``matrix-view=both``);
``--click`` clicks the first element a CSS selector finds (a beam-tree node:
``"[data-testid=tree-node][data-node='13']"``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import CHROMIUM_ARGS, find_chromium  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=760)
    parser.add_argument("--hover", help="ROW,COL of a cell in the first panel")
    parser.add_argument("--select", action="append", default=[], help="TESTID=VALUE of a picker, in every panel")
    parser.add_argument("--sentence", type=int, default=0, help="which sentence to show (0: the first)")
    parser.add_argument("--click", action="append", default=[], help="CSS selector of an element to click, in order")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
        page.goto(args.page.resolve().as_uri())
        page.wait_for_selector("[data-testid=cell]")
        if args.sentence:
            page.locator("[data-testid=sentence-item]").nth(args.sentence).click()
        for choice in args.select:
            testid, value = choice.split("=", 1)
            for select in page.locator(f"select[data-testid={testid}]").all():
                select.select_option(value)
        for selector in args.click:
            page.locator(selector).first.click()
        if args.hover:
            row, col = args.hover.split(",")
            page.locator(f"[data-testid=cell][data-row='{row}'][data-col='{col}']").first.hover()
        page.screenshot(path=str(args.out))
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
