"""A run's picture in a real headless Chromium, offline.

A run with a failed step goes through a real worker; the API is served by
uvicorn on a loopback port; Chromium (Debian's ``chromium`` package) loads the
run's page twice, once to dump the DOM and once to take a screenshot.

* Where is the failed step? The page's own inline script writes each step's box
  as Chromium laid it out (``data-box``) into the DOM; the dump carries it.
* Is it red? The screenshot's pixels inside that box are decoded with Pillow.
* Did the page fetch anything else? Chromium writes a NetLog of every request it
  starts; requests started for the page carry the page's site in their network
  isolation key, while Chromium's own background requests (update checks and
  the like) carry none. Every request of the page must go to the API's own
  address, and uvicorn's access log must have seen them. To be sure nothing
  leaves the machine whatever the page or the browser asks for, Chromium
  resolves no host name but loopback and proxies everything else to a closed
  local port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image

from orchestrator.context import StepContext
from orchestrator.graph import Graph, RetryPolicy, Step, task
from tests.support.api import AUTH, app_for, serve, wait_status
from tests.support.engine import Harness, harness

ONCE = RetryPolicy(max_attempts=1, backoff=timedelta(milliseconds=10))
FAILED_RGB = (0xD5, 0x00, 0x00)
SUCCEEDED_RGB = (0x2E, 0x7D, 0x32)
UPSTREAM_FAILED_RGB = (0xBF, 0x36, 0x0C)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--window-size=1280,900",
    "--proxy-server=http://127.0.0.1:1",
    "--proxy-bypass-list=127.0.0.1",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@task("picture_ok")
async def ok(ctx: StepContext) -> dict[str, object]:
    return {"step": ctx.step_key}


@task("picture_fail")
async def fail(ctx: StepContext) -> dict[str, object]:
    msg = "the upstream export is malformed"
    raise ValueError(msg)


GRAPH = Graph(
    "picture_demo",
    [
        Step("extract", ok, retry=ONCE),
        Step("check", fail, retry=ONCE),
        Step("count", ok, retry=ONCE),
        Step("report", ok, retry=ONCE),
    ],
    [
        ("extract", "check"),
        ("extract", "count"),
        ("check", "report"),
        ("count", "report"),
    ],
)


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness({GRAPH.name: GRAPH}, db_url, redis_url, queue_name) as hh:
        yield hh


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        msg = "headless Chromium is needed: apt-get install -y chromium"
        raise RuntimeError(msg)
    return path


async def _browse(work: Path, name: str, action: str, url: str) -> tuple[str, Path]:
    """Run Chromium once with a fresh profile; returns stdout and its NetLog."""
    netlog = work / f"{name}.netlog.json"
    profile = work / f"{name}-profile"
    profile.mkdir()
    process = await asyncio.create_subprocess_exec(
        _chromium(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--log-net-log={netlog}",
        action,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, f"chromium {action} failed"

    return stdout.decode(), netlog


class _Collect(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _Steps(HTMLParser):
    """Collects ``data-status`` and ``data-box`` of each ``<g class="step">``."""

    def __init__(self) -> None:
        super().__init__()
        self.boxes: dict[str, tuple[str, tuple[int, ...]]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "g" and found.get("class") == "step" and found.get("data-box"):
            box = tuple(int(v) for v in str(found["data-box"]).split())
            self.boxes[str(found["data-key"])] = (str(found["data-status"]), box)


def _share_of_colour(
    png: Path, box: tuple[int, ...], rgb: tuple[int, int, int]
) -> float:
    """The share of pixels inside ``box`` (inset from its rounded corners) that
    are within a small distance of ``rgb``."""
    left, top, width, height = box
    inset = 4
    with Image.open(png) as image:
        region = image.convert("RGB").crop(
            (left + inset, top + inset, left + width - inset, top + height - inset)
        )
        pixels = np.asarray(region, dtype=np.int16).reshape(-1, 3)
    close = np.all(np.abs(pixels - np.array(rgb, dtype=np.int16)) <= 24, axis=1)

    return float(close.mean())


def _page_requests(netlog: Path, page_site: str) -> list[str]:
    """URLs of every request Chromium started on behalf of a page of ``page_site``."""
    data = json.loads(netlog.read_text())
    start_job = data["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in data["events"]:
        params: dict[str, Any] = event.get("params") or {}
        if event["type"] != start_job or "url" not in params:
            continue
        if page_site in str(params.get("network_isolation_key", "")).split():
            urls.append(str(params["url"]))
    return urls


async def test_run_picture_colours_failed_step_red_offline(
    h: Harness, tmp_path: Path
) -> None:
    """Chromium shows the failed step of a real run in the failure colour, at the
    box the page reports, and the page fetches nothing but the API itself."""
    await h.start_worker()
    handler = _Collect()
    access = handler.records
    logging.getLogger("uvicorn.access").addHandler(handler)
    try:
        async with serve(app_for(h), access_log=True) as base:
            async with httpx.AsyncClient(base_url=base) as api:
                started = await api.post(
                    "/api/v1/graphs/picture_demo/runs", headers=AUTH
                )
                run_id = started.json()["id"]
                run = await wait_status(api, run_id, {"failed", "succeeded"})
                svg = await api.get(run["picture_url"])
            page = f"{base}/api/v1/runs/{run_id}/graph"
            dom, dom_log = await _browse(tmp_path, "dom", "--dump-dom", page)
            png = tmp_path / "run.png"
            _, shot_log = await _browse(tmp_path, "shot", f"--screenshot={png}", page)
    finally:
        logging.getLogger("uvicorn.access").removeHandler(handler)

    assert run["status"] == "failed"
    assert svg.headers["content-type"].startswith("image/svg+xml")
    parser = _Steps()
    parser.feed(dom)
    statuses = {key: status for key, (status, _) in parser.boxes.items()}
    assert statuses == {
        "extract": "succeeded",
        "check": "failed",
        "count": "succeeded",
        "report": "upstream_failed",
    }
    assert _share_of_colour(png, parser.boxes["check"][1], FAILED_RGB) > 0.6
    assert _share_of_colour(png, parser.boxes["count"][1], SUCCEEDED_RGB) > 0.6
    assert _share_of_colour(png, parser.boxes["report"][1], UPSTREAM_FAILED_RGB) > 0.6
    assert _share_of_colour(png, parser.boxes["count"][1], FAILED_RGB) == 0

    origin = urlsplit(base)
    for netlog in (dom_log, shot_log):
        requested = _page_requests(netlog, f"{origin.scheme}://{origin.hostname}")
        assert requested == [page], requested
    served = [r.args[2] for r in access if isinstance(r.args, tuple)]
    assert served.count(f"/api/v1/runs/{run_id}/graph") == 2
