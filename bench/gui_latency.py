"""GUI latency: start-up to an interactive window, and slider-to-pixels at 128 px (95th percentile).

- Start-up: wall time from launching ``python`` to the first event-loop turn after the main window is
  shown (offscreen platform, no models), median of a few runs. Target <= 3 s.
- Slider-to-pixels: the real window, worker thread and canvas; a slider value is set and the clock stops
  when the canvas holds the re-rendered, pasted-back photo. Target p95 <= 50 ms at 128 px. Uses a
  randomly initialised 128-px cGAN of the default width when no trained one is given (``--cgan``);
  the pixels are meaningless but the cost is the same as a trained one's.

``python bench/gui_latency.py [--cgan BUNDLE] [--moves 60] [--no-write]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "samples" / "astronaut.png"
STARTUP_DRIVER = """
import sys, time
from PySide6.QtCore import QTimer
from app.main import create_app, parse_args, start_window
app = create_app([sys.argv[0]])
window = start_window(parse_args(sys.argv[1:]))
window.confirm_close = False
def ready():
    print("interactive", flush=True)
    poll()
def poll():
    if window.models.get("cgan") is None and "--no-models" not in sys.argv:
        QTimer.singleShot(10, poll)
        return
    print("models", flush=True)
    window.close()
    app.quit()
QTimer.singleShot(0, ready)
sys.exit(app.exec())
"""


def startup_seconds(runs: int, home: Path, models: Path | None) -> tuple[list[float], list[float]]:
    """(seconds to an interactive window, seconds until the default models are loaded) per run."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", FACET_STUDIO_HOME=str(home),
               FACET_MODELS_DIR=str(models or home / "none"))
    args = [] if models else ["--no-models"]
    shown, loaded = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", STARTUP_DRIVER, *args], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, text=True)
        if "interactive" not in proc.stdout.readline():
            raise RuntimeError("the app did not start")
        shown.append(time.perf_counter() - t0)
        if "models" not in proc.stdout.readline():
            raise RuntimeError("the app did not load its models")
        loaded.append(time.perf_counter() - t0)
        proc.wait(60)
    return shown, loaded


def random_cgan(path: Path) -> Path:
    """A randomly initialised 128-px cGAN with the default architecture (plus encoders)."""
    import torch

    from engine.bundle import make_manifest, save_bundle
    from engine.models.cgan import ConvEncoder, Generator

    torch.manual_seed(0)
    attrs = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Smiling"]
    nets = {
        "generator": Generator(Generator.Config(resolution=128, n_attrs=len(attrs))),
        "encoder_z": ConvEncoder(ConvEncoder.Config(resolution=128, out_dim=100)),
        "encoder_y": ConvEncoder(ConvEncoder.Config(resolution=128, out_dim=len(attrs))),
    }
    for net in nets.values():
        net.eval()
    return save_bundle(path, nets, make_manifest("cgan", 128, attrs, nets, name="random-128"))


latencies_release: list[float] = []


def slider_latency(cgan: str, photo: str, moves: int, elegant: str | None = None) -> list[float]:
    """Milliseconds from slider.setValue to the new photo being on the canvas, per move."""
    from PySide6.QtCore import QEventLoop, QTimer

    from app.main import create_app
    from app.window import MainWindow

    app = create_app([sys.argv[0]])
    window = MainWindow()
    window.confirm_close = False
    window.attributes.set_preset("fast")
    window.worker.submit("set_preset", preset="fast")
    window.show()

    def wait(condition, timeout=60.0):
        loop = QEventLoop()
        end = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() > end:
                raise TimeoutError("the window did not respond")
            QTimer.singleShot(1, loop.quit)
            loop.exec()

    window.worker.submit("load_models", cgan=cgan, elegant=elegant)
    wait(lambda: window.models.get("cgan") is not None)
    window.open_path(photo)
    wait(lambda: window.face_states.get(0, {}).get("attributes") is not None)
    wait(lambda: window.worker.pending() == 0)
    rendered = []
    window.events.photoRendered.connect(lambda *_: rendered.append(time.perf_counter()))
    slider = window.attributes.sliders["Smiling"]
    latencies = []
    slider.setSliderDown(True)  # a drag: previews (downscaled photo), one undo step
    for k in range(moves):
        n = len(rendered)
        t0 = time.perf_counter()
        slider.setValue(-90 + (k * 37) % 180)
        wait(lambda n=n: len(rendered) > n and window.worker.pending() == 0)
        app.processEvents()  # the canvas repaints with the new pixmap
        latencies.append((time.perf_counter() - t0) * 1000)
    slider.setSliderDown(False)
    t0 = time.perf_counter()
    n = len(rendered)
    wait(lambda: len(rendered) > n and window.worker.pending() == 0)
    release_ms = (time.perf_counter() - t0) * 1000
    latencies_release.append(release_ms)
    window.close()
    return latencies


def default_models() -> tuple[str, str] | None:
    """(cgan, elegant) bundle folders shipped in resources/models, when both are there."""
    from app.selftest import find_bundle

    root = ROOT / "resources" / "models"
    found = [find_bundle(root, family) for family in ("cgan", "elegant")]
    return (str(found[0]), str(found[1])) if all(found) else None


def generator_ms(cgan: str, runs: int = 15) -> float:
    """Median milliseconds of one G(z, y) at the bundle's resolution: the floor under slider latency."""
    from engine import edit
    from engine.bundle import load_bundle
    from engine.invert import LatentCode

    bundle = load_bundle(cgan)
    g = bundle.network("generator")
    code = LatentCode(np_zeros(g.config.z_dim), np_zeros(g.config.n_attrs))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        edit.render(bundle, code)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def np_zeros(n: int):
    import numpy as np

    return np.zeros(n, np.float32)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cgan", help="a trained 128-px cgan bundle (default: randomly initialised)")
    parser.add_argument("--no-defaults", action="store_true",
                        help="skip the run with the shipped default models (resources/models)")
    parser.add_argument("--moves", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only, do not update docs/benchmarks.md")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = Path(tempfile.mkdtemp(prefix="facet-bench-"))
    os.environ["FACET_STUDIO_HOME"] = str(home)
    os.environ["FACET_MODELS_DIR"] = str(home / "none")

    cgan = args.cgan or str(random_cgan(home / "models" / "cgan"))
    starts, _ = startup_seconds(args.runs, home, None)
    shown, loaded = startup_seconds(args.runs, home, Path(cgan).parent)
    from engine.images import load_image, resize, save_image

    small = str(SAMPLE)
    big = load_image(SAMPLE)
    big_path = str(save_image(home / "photo-12mp.png", resize(big, (4000, 3000))))
    rows, configs = [], [("random 128-px cGAN, 128 px crops", cgan, None)]
    defaults = default_models()
    if defaults and not args.no_defaults:
        configs.insert(0, (f"shipped defaults ({Path(defaults[0]).name} + {Path(defaults[1]).name}), 128 px crops",
                           *defaults))
    for model_label, cg, el in configs:
        for label, photo in ((f"sample photo {big.shape[1]}x{big.shape[0]}", small), ("12 MP photo 4000x3000", big_path)):
            lat = slider_latency(cg, photo, args.moves, el)
            rows.append([model_label, label, f"{statistics.median(lat):.1f}", f"{percentile(lat, 95):.1f}",
                         f"{max(lat):.1f}", f"{latencies_release[-1]:.0f}"])
            print(f"slider-to-pixels, {model_label}, {label}: median {rows[-1][2]} ms, p95 {rows[-1][3]} ms", flush=True)
    start_med = statistics.median(starts)
    g_ms = generator_ms(cgan)
    print(f"G forward: median {g_ms:.0f} ms")
    print(f"start-up to interactive window: median {start_med:.2f} s ({', '.join(f'{s:.2f}' for s in starts)})")
    print(f"with the 128-px model: window {statistics.median(shown):.2f} s, model loaded {statistics.median(loaded):.2f} s")

    from bench.report import markdown_table, write_section

    p95 = [float(r[3]) for r in rows]
    import torch

    torch_threads = torch.get_num_threads()
    verdict = (
        f"**Verdict:** start-up target {'met' if start_med <= 3 else 'NOT met'}; slider target (p95 ≤ 50 ms) met in "
        f"{sum(v <= 50 for v in p95)} of {len(p95)} rows (worst p95 {max(p95):.0f} ms)."
    )
    model = ("the shipped default models (a 64-px cGAN, whose renders are resized to the 128-px crop the 64-px "
             "ELEGANT asks for) and, as the worst case the issue names, " if len(configs) > 1 else "") + (
        f"trained bundle {args.cgan}" if args.cgan else "a **randomly initialised** 128-px cGAN of the default width")
    body = (
        f"Start-up (launch → first event-loop turn with the main window shown, offscreen): median "
        f"**{start_med:.2f} s** without models, **{statistics.median(shown):.2f} s** with the 128-px cGAN as the "
        f"default model, which is then ready for editing (torch imported and bundle loaded in the worker thread) "
        f"at {statistics.median(loaded):.2f} s; {len(starts)} runs each (target ≤ 3 s).\n\n"
        f"Slider → pixels on the canvas ({args.moves} moves, `fast` preset, 1 face, worker thread + paste-back + "
        f"QPixmap update), with {model}:\n\n"
        + markdown_table(["models", "photo", "median ms", "p95 ms", "max ms", "release → full-res ms"], rows)
        + "\n\nTarget: p95 ≤ 50 ms at 128 px. The cost is almost all one generator forward pass (see "
        f"`G forward` below); load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        f"(this benchmark's own threads included). The worker re-renders with {torch_threads} torch thread(s), one "
        "core fewer than the machine has (`engine.device.use_cpu_threads`), so the GUI thread keeps a core: with "
        "both cores in OpenMP's hands the p95 of the random 128-px cGAN rows was 48-76 ms (sample photo) and 51-58 ms "
        "(12 MP) in four 150-move runs (session 8); with one thread, 30-37 and 38-53 ms in five. p95 moves by "
        "several ms from run to run.\n\n"
        f"G forward at 128 px (default width, batch 1, fp32): median {g_ms:.0f} ms.\n\n{verdict}"
    )
    if not args.no_write:
        print(f"wrote {write_section('gui_latency', 'GUI latency', body)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
