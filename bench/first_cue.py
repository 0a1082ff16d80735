"""Time to the first playable cue on the spotting page, against the whole run, on a 10-minute cut.

    python bench/first_cue.py [--minutes 10] [--repeats 1] [--video FILE] [--out FILE.json]

`tempscore ui` is started as a user starts it (a process on a free port, an empty workspace);
headless Chromium (Debian's chromium + chromedriver, through Selenium) opens the page, uploads the
cut (``bench/output_hashes.py``'s ``generated_cut``: made once under build/), presses "Hear ... now"
the moment the page offers it, and waits for the first cue to play with its music, then for the
run to finish. Both times are the browser's clock from the upload (tests/ui_support.py,
``hear_first_cue``): ``time_to_first_playable_cue_sec`` (the cue's audio element starts playing,
the picture playing with it), ``whole_run_sec`` (the page shows the run done), and their ratio. With them, the floor: what comes before any first cue can be made (the upload and
the queue, the analysis, plan and compose: ``floor_ratio`` of the whole), and what the cue and the
page add on top (``preview_and_page_sec``), from the job's own timings (``job.json``). Each repeat
is a new server and workspace. Writes bench/results/first_cue.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(REPO / "tests"))  # ui_support: the browser steps the test takes too


def chromium():  # noqa: ANN201 - selenium's WebDriver, imported here
    """Headless Chromium as the page's end-to-end test drives it."""
    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium-manager look for drivers online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1500,950",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--no-first-run"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=opts)


def one_run(video: Path) -> dict:
    """A fresh `tempscore ui` and browser: the video uploaded, its first cue heard, the run finished."""
    from ui_support import hear_first_cue, wait_for, with_floor

    wd = Path(tempfile.mkdtemp(prefix="tempscore-first-cue-"))
    proc = subprocess.Popen([sys.executable, "-m", "tempscore.cli", "ui", "--port", "0", "--workdir", str(wd)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    driver = None
    try:
        line = proc.stdout.readline()
        if not line.startswith("tempscore ui: open "):
            raise SystemExit(f"tempscore ui did not start: {line!r} {proc.stderr.read()}")
        driver = chromium()
        driver.get(line.split()[3])
        wait_for(lambda: driver.execute_script("return !!(window.tempscore && window.tempscore.state.config)"), 30,
                 "the page to load its config")
        got = hear_first_cue(driver, video)
        return with_floor(got, json.loads(next((wd / "jobs").glob("*/job.json")).read_text()))
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(wd, ignore_errors=True)


def main() -> None:
    from output_hashes import generated_cut

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the generated cut")
    ap.add_argument("--video", type=Path, help="score this video instead of the generated cut")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "first_cue.json")
    a = ap.parse_args()
    video = a.video or generated_cut(a.minutes)
    load_before = os.getloadavg()
    runs = [one_run(video) for _ in range(a.repeats)]
    med = lambda k: round(statistics.median(r[k] for r in runs), 3)  # noqa: E731
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_avg_before": load_before, "load_avg_after": os.getloadavg()},
              "video": str(video), "time_to_first_playable_cue_sec": med("time_to_first_playable_cue_sec"),
              "whole_run_sec": med("whole_run_sec"), "ratio": med("ratio"), "floor_ratio": med("floor_ratio"),
              "preview_and_page_sec": med("preview_and_page_sec"), "runs": runs}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print(f"first playable cue {result['time_to_first_playable_cue_sec']:.2f} s of a {result['whole_run_sec']:.2f} s "
          f"run: ratio {result['ratio']:.3f}; before any first cue (upload, analyze, plan, compose): ratio "
          f"{result['floor_ratio']:.3f}; the cue and the page on top: {result['preview_and_page_sec']:.2f} s "
          f"({len(runs)} run(s); stages {runs[-1]['job_timings_sec']})")


if __name__ == "__main__":
    main()
