"""The real app in headless Chromium: ``streamlit run``, keyboard on a slider, a training run, a
poster stopped; a walk through three keyframes downloaded as a GIF; a slider taught across a
reloaded tab.

The server and the browser come from ``studio/bench/harness.py``, the harness the browser bench
measures with. Screenshots go to ``$STUDIO_E2E_SHOTS`` when it is set (to look at them), else to
a temporary folder. Needs Debian's ``chromium`` and the ``playwright`` package (``.ci/run``
installs both).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from studio.bench.browser import choose_model
from studio.bench.harness import (
    CHROMIUM,
    IMAGE,
    INSTRUMENT,
    MORE,
    PAD,
    POSTER_STOP,
    SEED,
    SLIDER,
    TRAIN_START,
    TRAIN_STOP,
    launch_chromium,
    serve,
    wait_for_studio_image,
    wait_idle,
)
from studio.checkpoints import ModelCard, save_checkpoint
from studio.models import build_model
from studio.paths import studio_dir
from studio.walks import walk_from_animation

pytestmark = pytest.mark.e2e
sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("STUDIO_E2E_SHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


OWN_MODELS = ("e2e-gan", "e2e-cppn")


def _stop_a_poster(page, shots: Path) -> None:
    """A 4096 px poster of the wide CPPN, stopped as soon as its Stop shows."""
    assert choose_model(page, "e2e-cppn")
    page.locator(MORE).click()
    page.get_by_role("tab", name="Poster").click()
    wait_idle(page)  # the tab's own run done: a size picked during it could be lost on a busy box
    size = page.get_by_role("radio", name="4096")
    size.click()
    sync_api.expect(size).to_be_checked()
    wait_idle(page)
    page.get_by_role("button", name="Render poster").click()
    stop = page.locator(POSTER_STOP)
    stop.scroll_into_view_if_needed()
    page.screenshot(path=shots / "poster.png")
    stop.click()
    stopped = page.get_by_text("Poster stopped at")
    stopped.wait_for(timeout=30_000)
    wait_idle(page)
    page.screenshot(path=shots / "poster-stopped.png")
    assert "the 4096 px render was dropped" in stopped.text_content()
    assert not stop.count() and not page.get_by_role("button", name="Download").count()


def _warm_up_line(server, timeout: float = 60.0) -> str:
    """The server's one line saying it has warmed up, waited for without any browser."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.log.read_text().splitlines():
            if "Latent Studio warmed up" in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"no warm-up line in the server's log:\n{server.log.read_text()}")


def test_slider_by_keyboard_a_training_run_and_a_stopped_poster(studio_home, shots):
    # Models of the user's own, so the test does not depend on the pretrained zoo; the CPPN is
    # wide and deep enough that its 4096 px poster takes about a minute on a busy 2-core box.
    models = studio_dir("models")
    card = ModelCard(id="e2e-gan", arch="dcgan", family="", config={}, dataset={"name": "glyphs"})
    save_checkpoint(build_model("dcgan", {"latent_dim": 8, "width": 8}), card, models)
    card = ModelCard(id="e2e-cppn", arch="cppn", family="", config={}, dataset={"name": "image"})
    save_checkpoint(build_model("cppn", {"latent_dim": 4, "width": 64, "depth": 8}), card, models)

    with sync_api.sync_playwright() as playwright, serve(studio_home) as server:
        # Before any browser asks, the server has imported torch and opened the first model
        assert "(gan-glyphs open)" in _warm_up_line(server)
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        local = (server.url, "data:", "blob:")
        leaving, errors = [], []
        page.on("request", lambda r: None if r.url.startswith(local) else leaving.append(r.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server.url)
        first = wait_for_studio_image(page, timeout_ms=45_000)
        wait_idle(page)
        url_before = page.url

        slider = page.locator(SLIDER)
        slider.focus()
        value = slider.input_value()
        slider.press("ArrowRight")
        moved = wait_for_studio_image(page, other_than=first)
        wait_idle(page)
        assert float(slider.input_value()) == pytest.approx(float(value) + 0.05)
        assert page.url != url_before  # the recipe in the address bar followed the image
        page.screenshot(path=shots / "explore.png")
        page.reload()  # the address bar's recipe draws the moved picture again
        assert wait_for_studio_image(page, timeout_ms=45_000) == moved
        assert float(page.locator(SLIDER).input_value()) == pytest.approx(float(value) + 0.05)
        wait_idle(page)

        # The pad: the picture must change while the pointer is still down.
        box = page.locator(PAD).bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        before_drag = page.locator(IMAGE).get_attribute("src")
        page.mouse.move(x, y)
        page.mouse.down()
        seen = set()
        for step in range(1, 16):
            page.mouse.move(x + 6 * step, y - 4 * step)
            page.wait_for_timeout(80)
            seen.add(page.locator(IMAGE).get_attribute("src"))
        page.mouse.up()
        assert seen - {before_drag}, "the image did not change during the drag"
        wait_idle(page)
        assert not errors, errors  # the instrument's script, the pad's release included
        assert not leaving, leaving  # offline: the page fetches nothing from elsewhere

        page.get_by_role("link", name="Train").click()
        page.locator(TRAIN_START).click()
        stop = page.locator(TRAIN_STOP).first
        stop.wait_for(timeout=30_000)
        # Enough steps for the loss curves to have a shape before the screenshot.
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=stProgress] p')]"
            ".some(p => Number((p.textContent.match(/step ([\\d,]+)/) || [0, '0'])[1]"
            ".replaceAll(',', '')) >= 10)",
            timeout=60_000,
        )
        page.screenshot(path=shots / "training.png")
        stop.click()
        page.wait_for_function(
            "(selector) => !document.querySelector(selector)?.disabled",
            arg=TRAIN_START,
            timeout=30_000,
        )
        wait_idle(page)
        page.screenshot(path=shots / "trained.png")

        page.get_by_role("link", name="Explore").click()
        _stop_a_poster(page, shots)
        browser.close()

    assert [p for p in models.glob("*.json") if p.stem not in OWN_MODELS]
    assert all((shots / name).stat().st_size > 10_000 for name in ("explore.png", "training.png"))


def test_a_three_keyframe_walk_downloaded_from_the_page(studio_home, shots):
    with sync_api.sync_playwright() as playwright, serve(studio_home) as server:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        page.goto(server.url)
        picture = wait_for_studio_image(page, timeout_ms=45_000)
        for count, seed in enumerate(("1", "5", "9"), start=1):
            # A seed typed while the first run is still drawing can be lost to its redraw.
            wait_idle(page)
            seed_box = page.locator(f"{SEED} input")
            seed_box.fill(seed)
            seed_box.press("Enter")
            picture = wait_for_studio_image(page, other_than=picture)
            wait_idle(page)
            page.get_by_role("button", name="Keyframe").click()
            # The toast, not idleness: on a busy machine the click's run may not have begun yet.
            page.get_by_text(f"Keyframe {count} kept").wait_for(timeout=30_000)
            wait_idle(page)
        page.locator(MORE).click()
        page.get_by_role("tab", name="Latent walk").click()
        download_gif = page.get_by_role("button", name="Download GIF")
        # The expander and the tab each rerun the page, and a click landing while a rerun
        # replaces the button is lost: press again until the walk is there (a walk is
        # drawn in about a second; a press only draws it again).
        for _ in range(3):
            wait_idle(page)
            page.get_by_role("button", name="Make walk").click()
            try:
                download_gif.wait_for(timeout=20_000)
                break
            except sync_api.TimeoutError:
                continue
        with page.expect_download() as download:
            download_gif.click(timeout=60_000)
        wait_idle(page)
        page.screenshot(path=shots / "walk.png", full_page=True)
        gif = Path(download.value.path()).read_bytes()
        browser.close()

    walk = walk_from_animation(gif)
    assert [key.options["seed"] for key in walk.keyframes] == [1, 5, 9]
    assert walk.frame_count == 36  # 12 frames a segment, looping back to the first


MARKS = '[class*="st-key-explore_teach_mark_"]'  # a grid picture's more / less, in seed order


def _open_teach_tool(page) -> None:
    page.locator(MORE).click()
    wait_idle(page)
    page.get_by_role("tab", name="Teach a slider").click()
    page.locator(MARKS).first.wait_for(timeout=30_000)
    wait_idle(page)


def _pressed(page) -> list[str]:
    """Each grid picture's mark as the page shows it ("" where none)."""
    marks = []
    for group in page.locator(MARKS).all():
        active = group.locator('[role="radio"][aria-checked="true"]')
        marks.append(active.inner_text().strip() if active.count() else "")
    return marks


def _wait_until_kept(home: Path, marks: int, name: str, timeout: float = 30.0) -> None:
    """Wait until the studio folder holds the marks and the name (a click's run may not have
    begun when the page says it is idle)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in home.glob("directions/*/*.marks.json"):
            kept = json.loads(path.read_text())
            if len(kept["seeds"]) == marks and kept["name"] == name:
                return
        time.sleep(0.2)
    raise AssertionError(f"{marks} marks and the name {name!r} were not kept in {timeout} s")


def test_a_slider_taught_with_marks_that_outlive_a_reloaded_tab(studio_home, shots):
    sides = ["more", "more", "more", "less", "less", "less"]
    with sync_api.sync_playwright() as playwright, serve(studio_home) as server:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(server.url)
        wait_for_studio_image(page, timeout_ms=45_000)
        wait_idle(page)
        picture = page.url  # its recipe: marking, naming and reloading leave it be
        _open_teach_tool(page)
        for group, side in zip(page.locator(MARKS).all()[: len(sides)], sides, strict=True):
            group.get_by_role("radio", name=side, exact=True).click()
            wait_idle(page)
        page.get_by_label("Name").fill("calm")
        page.get_by_label("Name").press("Enter")
        _wait_until_kept(studio_home, len(sides), "calm")

        page.reload()  # the tab's session is gone; its marks are not
        wait_for_studio_image(page, timeout_ms=45_000)
        _open_teach_tool(page)
        page.get_by_text("3 more").wait_for(timeout=30_000)
        assert _pressed(page)[: len(sides) + 1] == [*sides, ""]
        assert page.get_by_label("Name").input_value() == "calm"
        assert page.url == picture
        page.screenshot(path=shots / "teach-reloaded.png", full_page=True)
        keep = page.get_by_role("button", name="Keep 'calm'")
        for _ in range(3):  # a click landing while a rerun replaces the button is lost
            page.get_by_role("button", name="Fit").click()
            try:
                keep.wait_for(timeout=30_000)
                break
            except sync_api.TimeoutError:
                wait_idle(page)
        wait_idle(page)
        page.screenshot(path=shots / "teach-fitted.png", full_page=True)
        keep.click()
        page.get_by_text("'calm' is with the named sliders").wait_for(timeout=30_000)
        wait_idle(page)
        assert _pressed(page) == [""] * len(_pressed(page))  # a kept slider's marks are done
        assert page.locator(INSTRUMENT).get_by_text("calm", exact=True).count() == 1
        page.screenshot(path=shots / "teach-kept.png", full_page=True)
        browser.close()


def test_the_classroom_readouts_are_whole_on_a_1024_px_projector(studio_home, shots):
    with sync_api.sync_playwright() as playwright, serve(studio_home) as server:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1024, "height": 1200})
        page.goto(server.url + "classroom")
        values = page.locator('[data-testid="stMetricValue"]')
        values.first.wait_for(timeout=45_000)
        wait_idle(page)
        page.screenshot(path=shots / "classroom-1024.png")
        cut = page.evaluate(
            """() => [...document.querySelectorAll(
                '[data-testid="stMetricValue"], [data-testid="stMetricLabel"]')]
              .flatMap(e => [e, ...e.querySelectorAll('*')])
              .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"""
        )
        assert values.count() == 6 and cut == []  # wrapped onto two lines, none cut short
        browser.close()
