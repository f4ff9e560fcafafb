"""tests/browser.py's chromium really runs: Playwright fills and submits a form on a live page."""

from __future__ import annotations

import asyncio
import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from playwright.async_api import async_playwright, expect

from shared.kit.settings import cache_dir
from tests.browser import chromium_executable, launch_args

FORM = b"""<!doctype html>
<html><body>
<form method="post" action="/submit">
  <input id="name" name="name">
  <button id="send" type="submit">Send</button>
</form>
</body></html>
"""


class _FormServer(ThreadingHTTPServer):
    daemon_threads = True
    received: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: _FormServer

    def do_GET(self) -> None:
        self._reply(FORM)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        name = parse_qs(body).get("name", [""])[0]
        self.server.received.append(name)
        self._reply(f'<p id="result">Hello, {html.escape(name)}!</p>'.encode())

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def form_server() -> Iterator[_FormServer]:
    server = _FormServer(("127.0.0.1", 0), _Handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


async def test_chromium_submits_a_form(form_server: _FormServer) -> None:
    executable = await asyncio.to_thread(chromium_executable, cache_dir() / "chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=launch_args()
        )
        try:
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{form_server.server_port}/")
            await page.fill("#name", "Ada <Lovelace>")
            await page.click("#send")
            await expect(page.locator("#result")).to_have_text("Hello, Ada <Lovelace>!")
        finally:
            await browser.close()
    assert form_server.received == ["Ada <Lovelace>"]
