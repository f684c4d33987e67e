"""Real-browser test of the widgets: JupyterLab on 127.0.0.1, Debian chromium driven by Python playwright.

The LoRA notebook (a copy of notebooks/01_lora_math.ipynb, with the Colab setup cells applied) is run with
"Run All"; then the klue/bert-base rank/alpha explorer is driven with the keyboard and by typing into its readouts,
and the shown parameter count must become exactly `course_utils.adapters.params.count_trainable` for the new rank. The
memory calculator is tested on a trimmed copy of notebooks/04_qlora_training.ipynb (its setup cells and the
`memory_explorer` cell): the rest of 04 is minutes of QLoRA training the widget does not need, and nbval already runs
it. Screenshots go to build/browser/. Chromium comes from Debian (`apt-get install chromium`, done by .ci/run);
playwright never downloads a browser here.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from chromium import CHROMIUM, launch

from course_utils.publish.colab import apply_colab_cells, configured_repo

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "browser"
RUN_ALL_TIMEOUT_S = 900
UI_TIMEOUT_MS = 30_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"!!! BROWSER TEST SKIPPED: no chromium at {CHROMIUM}. Install it with `apt-get install -y chromium` "
           "(.ci/run does) or set COURSE_CHROMIUM. The widgets were NOT tested in a browser. !!!",
)


# ----------------------------------------------------------------------------------------------------
# Notebook copies
# ----------------------------------------------------------------------------------------------------


def unrun(nb) -> None:
    """Drop outputs and execution counts, so every prompt shows '[ ]' until this run executes the cell."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None


def lora_copy(folder: Path) -> str:
    """The whole LoRA notebook with the Colab cells applied; returns its file name."""
    nb = nbformat.read(ROOT / "notebooks" / "01_lora_math.ipynb", as_version=4)
    apply_colab_cells(nb, configured_repo(), "01_lora_math.ipynb")
    unrun(nb)
    nbformat.write(nb, folder / "01_lora_math.ipynb")
    return "01_lora_math.ipynb"


def memory_copy(folder: Path) -> str:
    """The QLoRA notebook trimmed to its cells up to the setup() call plus the memory_explorer cell."""
    name = "04_qlora_training.ipynb"
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    apply_colab_cells(nb, configured_repo(), name)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    setup = next(i for i in code if "setup(" in nb.cells[i].source and "check_environment" not in nb.cells[i].source)
    widget = [i for i in code if "memory_explorer(" in nb.cells[i].source]
    assert widget, f"{name} no longer shows memory_explorer(...): update tests/test_browser.py"
    nb.cells = nb.cells[: setup + 1] + [nb.cells[widget[0]]]
    unrun(nb)
    trimmed = f"trimmed_{name}"
    nbformat.write(nb, folder / trimmed)
    return trimmed


# ----------------------------------------------------------------------------------------------------
# JupyterLab server and browser
# ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lab_environment(base: Path) -> dict[str, str]:
    """Environment with HOME, Jupyter, IPython and matplotlib dirs in `base` and the offline profile."""
    env = dict(os.environ)
    dirs = {name: base / name.lower() for name in ("HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
                                                   "MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    for name, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    labconfig = dirs["JUPYTER_CONFIG_DIR"] / "labconfig"
    labconfig.mkdir()
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    for key, value in (("COURSE_PROFILE", "offline"), ("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"),
                       ("OMP_NUM_THREADS", "1")):
        env.setdefault(key, value)
    return env


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a free 127.0.0.1 port serving the notebook copies: (base URL, token, files)."""
    base = tmp_path_factory.mktemp("lab")
    work = base / "work"
    work.mkdir()
    files = {"lora": lora_copy(work), "memory": memory_copy(work)}
    settings = base / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
        "--allow-root", "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={base / 'user-settings'}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
    ]
    log = (base / "lab.log").open("w")
    server = subprocess.Popen(command, env=lab_environment(base), stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, token, server, base / "lab.log")
        yield url, token, files
    finally:
        stop(server)
        log.close()


def wait_for_server(url: str, token: str, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll /api/status until the server answers (or fail with its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    """Stop the server we started (it shuts its kernels down); kill its process group if it hangs."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Debian chromium through playwright, profile and HOME in a temp dir."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium")
    with sync_playwright() as playwright:
        context = launch(playwright, profile, 1400, 1000)
        try:
            yield context
        finally:
            context.close()


def open_and_run_all(context, url: str, token: str, name: str):
    """Open a notebook in JupyterLab, wait for the kernel, and start 'Run All'."""
    from playwright.sync_api import expect

    page = context.new_page()
    workspace = Path(name).stem.replace("_", "-")  # a fresh workspace per notebook: no tabs restored from another
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{name}?token={token}&reset")
    expect(page.get_by_text("(ipykernel) | Idle")).to_be_visible(timeout=120_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands.hasCommand('notebook:run-all-cells')")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    return page


def wait_for_widget_output(page, has_text: str, shot: Path, timeout: float = RUN_ALL_TIMEOUT_S):
    """After 'Run All' finished without a traceback: the output holding a slider widget whose text has `has_text`."""
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    outputs = notebook.locator(".jp-OutputArea-output")
    pending = notebook.locator(".jp-InputArea-prompt").filter(has_text=re.compile(r"\[[ *]\]"))
    errors = outputs.filter(has_text="Traceback (most recent call last)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if errors.count():
            page.screenshot(path=str(shot), full_page=True)
            detail = errors.first.inner_text()[:3000]
            pytest.fail(f"a notebook cell failed in the browser (screenshot {shot}):\n{detail}")
        if pending.count() == 0 and page.get_by_text("(ipykernel) | Idle").count():
            break  # widget messages queue behind running cells: interact only when all cells ran
        time.sleep(1)
    else:
        page.screenshot(path=str(shot), full_page=True)
        pytest.fail(f"'Run All' did not finish within {timeout} s (screenshot {shot})")
    widgets = outputs.filter(has=page.locator(".widget-slider"))
    for index, text in enumerate(widgets.all_inner_texts()):
        if has_text in text:
            target = widgets.nth(index)
            target.scroll_into_view_if_needed()
            return target
    page.screenshot(path=str(shot), full_page=True)
    pytest.fail(f"no widget output shows {has_text!r} (screenshot {shot})")


def type_into_readout(slider, text: str) -> None:
    """Type a value into a slider's editable readout and press Enter."""
    readout = slider.locator(".widget-readout")
    readout.click()
    readout.press("Control+A")
    readout.type(text)
    readout.press("Enter")


def press_on_handle(slider, key: str, times: int) -> None:
    """Focus the slider handle and press `key` `times` times (the keyboard way to move a noUiSlider)."""
    handle = slider.locator(".noUi-handle")
    handle.focus()
    for _ in range(times):
        handle.press(key)


# ----------------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------------


def test_lora_sliders_show_the_exact_parameter_count(lab, browser):
    from playwright.sync_api import expect

    from course_utils.adapters.params import count_trainable
    from course_utils.runtime.presets import config_only_model, klue_bert_base_config

    SHOTS.mkdir(parents=True, exist_ok=True)
    url, token, files = lab
    started = time.monotonic()
    page = open_and_run_all(browser, url, token, files["lora"])
    widget = wait_for_widget_output(page, "1,340,930", SHOTS / "01_lora_failure.png")
    run_all_s = time.monotonic() - started
    klue = config_only_model(klue_bert_base_config())
    targets = [box.inner_text().strip() for box in widget.locator(".widget-checkbox").all()
               if box.locator("input").is_checked() and "DoRA" not in box.inner_text()]

    def shown_count_is(r: int) -> None:
        expected, _ = count_trainable(klue, r=r, target_modules=targets, task_type="SEQ_CLS")
        expect(widget.locator(".trainable")).to_have_text(f"{expected:,}", timeout=UI_TIMEOUT_MS)

    rank, alpha = widget.locator(".widget-slider").nth(0), widget.locator(".widget-slider").nth(1)
    expect(rank.locator(".widget-readout")).to_have_text("8")
    assert targets == ["query", "key", "value", "dense"], targets
    shown_count_is(8)  # 1,340,930: the lecture's print_trainable_parameters line (tests/test_params.py)
    widget.screenshot(path=str(SHOTS / "01_lora_explorer_r8.png"))

    press_on_handle(rank, "ArrowRight", 8)
    expect(rank.locator(".widget-readout")).to_have_text("16", timeout=UI_TIMEOUT_MS)
    shown_count_is(16)
    type_into_readout(alpha, "64")
    expect(alpha.locator(".widget-readout")).to_have_text("64", timeout=UI_TIMEOUT_MS)
    expect(widget.locator(".widget-html-content").filter(has_text="α/r = 4,")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    shown_count_is(16)  # alpha changes the scaling, never the count
    widget.screenshot(path=str(SHOTS / "01_lora_explorer_r16_alpha64.png"))

    type_into_readout(rank, "4")
    expect(rank.locator(".widget-readout")).to_have_text("4", timeout=UI_TIMEOUT_MS)
    shown_count_is(4)
    expect(widget.locator(".widget-html-content").filter(has_text="α/r = 16,")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    widget.screenshot(path=str(SHOTS / "01_lora_explorer_r4_alpha64.png"))
    page.screenshot(path=str(SHOTS / "01_lora_page.png"))
    print(f"01_lora_math in the browser: Run All {run_all_s:.0f} s, whole test {time.monotonic() - started:.0f} s")
    page.close()


def test_memory_calculator_shows_the_estimate(lab, browser):
    from playwright.sync_api import expect

    from course_utils.memory.estimate import GIB, estimate_training_memory
    from course_utils.runtime.presets import PRESETS

    SHOTS.mkdir(parents=True, exist_ok=True)
    url, token, files = lab
    page = open_and_run_all(browser, url, token, files["memory"])
    widget = wait_for_widget_output(page, "학습 메모리 계산기", SHOTS / "04_memory_failure.png", timeout=300)

    def shown_total_is(model: str, method: str, dtype: str, r: int) -> None:
        expected = estimate_training_memory(model, method, dtype, r=r)["total"] / GIB
        expect(widget.locator(".total")).to_have_text(f"{expected:,.2f}", timeout=UI_TIMEOUT_MS)

    rank = widget.locator(".widget-slider")
    start_r = PRESETS["llama-7b"].r
    expect(rank.locator(".widget-readout")).to_have_text(str(start_r))
    shown_total_is("llama-7b", "qlora", "bf16", start_r)
    widget.screenshot(path=str(SHOTS / "04_memory_qlora_7b.png"))

    widget.get_by_role("button", name="LoRA", exact=True).click()
    shown_total_is("llama-7b", "lora", "bf16", start_r)
    press_on_handle(rank, "ArrowRight", 4)
    expect(rank.locator(".widget-readout")).to_have_text(str(start_r + 4), timeout=UI_TIMEOUT_MS)
    shown_total_is("llama-7b", "lora", "bf16", start_r + 4)
    type_into_readout(rank, "256")
    expect(rank.locator(".widget-readout")).to_have_text("256", timeout=UI_TIMEOUT_MS)
    shown_total_is("llama-7b", "lora", "bf16", 256)
    widget.screenshot(path=str(SHOTS / "04_memory_lora_7b_r256.png"))

    widget.locator("select").select_option(label=PRESETS["llama-65b"].label)
    expect(rank.locator(".widget-readout")).to_have_text(str(PRESETS["llama-65b"].r), timeout=UI_TIMEOUT_MS)
    shown_total_is("llama-65b", "lora", "bf16", PRESETS["llama-65b"].r)
    widget.get_by_role("button", name="QLoRA", exact=True).click()
    shown_total_is("llama-65b", "qlora", "bf16", PRESETS["llama-65b"].r)
    # QLoRA abstract: 65B on one 48 GB GPU; the A6000 reports 47.99 GiB and the tensors take 44.99 GiB
    expect(widget.locator(".widget-html-content").filter(has_text="A6000 47.99 GiB ✓")).to_have_count(
        1, timeout=UI_TIMEOUT_MS)
    widget.screenshot(path=str(SHOTS / "04_memory_qlora_65b.png"))
    page.close()
