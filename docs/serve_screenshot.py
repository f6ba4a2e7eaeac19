"""Screenshot s2s serve's page with a word's alternatives open (docs/serve-poke.png).

    python docs/serve_screenshot.py RUN_DIR [OUT.png]

Starts ``s2s serve`` on port 8765, opens the page for "the red car is small" with gradient x input
attribution, clicks the third output word and shoots once its alternatives are listed.
"""

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.browser import CHROMIUM_ARGS, find_chromium  # noqa: E402

RUN, OUT = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "docs/serve-poke.png"
command = [sys.executable, "-m", "seq2seq_cli", "serve", "-r", RUN, "--port", "8765"]
server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(60):
        try:
            urllib.request.urlopen("http://127.0.0.1:8765/health")
            break
        except Exception:
            time.sleep(0.5)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        page = b.new_page(viewport={"width": 1280, "height": 760})
        page.goto("http://127.0.0.1:8765/?text=the+red+car+is+small&attribution=grad")
        page.locator('.out-word[data-step="2"]').first.click()
        page.locator('[data-testid="alternative"]').first.wait_for()
        page.mouse.move(1200, 700)
        page.screenshot(path=OUT)
        b.close()
finally:
    server.terminate()
