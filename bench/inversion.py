"""Inversion benchmark: time per face, PSNR/SSIM, steps hybrid needs, latent statistics, per method.

Faces are held-out CelebA faces no default model trained on (``resources/models/validation_faces.txt``,
or ``--split val|test`` with the partition file), centre-square-resized to the bundle's resolution.

    python bench/inversion.py --bundle runs/.../bundle [--classifier runs/.../bundle] [--n 200] [--n-optimize 20]

Targets at 64 px on the 2-core CPU: encoder <= 10 ms per face; hybrid <= 1.5 s; hybrid reaches
optimize-only's final objective within 1/4 of optimize's steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import markdown_table, run_and_write  # noqa: E402

CELEBA = ROOT.parent / "shared" / "datasets" / "celeba"
HELD_OUT = ROOT / "resources" / "models" / "validation_faces.txt"
CGAN64 = ROOT / "resources" / "models" / "cgan64"


def held_out_parser(doc: str, n: int) -> argparse.ArgumentParser:
    """The options of a benchmark on the shipped cGAN and held-out faces (more can be added to the parser)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", default=str(CGAN64))
    p.add_argument("--n", type=int, default=n, help=f"held-out faces (default {n})")
    p.add_argument("--celeba", default=str(CELEBA))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true", help="print only; do not touch docs/benchmarks.md")
    return p


def load_faces(bundle, n: int, celeba: Path, split: str | None, resolution: int | None = None):
    """(uint8 images, labels (n, A) for the bundle's attributes, their names) of held-out faces, at
    ``resolution`` (default: the bundle's)."""
    from engine.data import CelebADataset, read_labels
    from engine.invert.core import tensor_to_image

    labels = celeba / "list_attr_celeba.txt"
    attrs = [a for a in bundle.attributes if a in read_labels(labels).names]
    dirs = [celeba / "img_align_celeba", celeba / "img_align_celeba_half"]
    resolution = resolution or bundle.resolution
    if split:
        ds = CelebADataset(dirs, labels, attributes=attrs, resolution=resolution, split=split,
                           partition=celeba / "list_eval_partition.txt")
        source = f"CelebA partition split {split!r}"
    else:
        names = [ln.strip() for ln in HELD_OUT.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        ds = CelebADataset(dirs, labels, attributes=attrs, resolution=resolution, include=names)
        source = f"held-out CelebA faces ({HELD_OUT.relative_to(ROOT)})"
    n = min(n, len(ds))
    images, ys = [], []
    for i in range(n):
        x, y = ds[i]
        images.append(tensor_to_image(x))
        ys.append(np.asarray(y))
    return images, np.stack(ys), attrs, source


def first_reaching(losses: list[float], target: float) -> int | None:
    for i, v in enumerate(losses):
        if v <= target:
            return i + 1
    return None


def hybrid_reach(bundle, images: list[np.ndarray], opt: list, hyb: list) -> list[str]:
    """Steps hybrid needs to reach optimize-only's final objective: hybrid is run again with optimize's step
    budget (and cosine schedule) on the optimize faces, so that needing more than its default 50 shows."""
    from engine.invert import invert

    k, budget = len(opt), opt[0][1].steps
    quarter = budget // 4
    reach, finals = [], []
    for i in range(k):
        losses = invert(images[i], bundle, "hybrid", steps=budget, seed=i).losses
        reach.append(first_reaching(losses, opt[i][1].losses[-1]))
        finals.append(losses[-1])
    got = [r for r in reach if r is not None]
    within = sum(r <= quarter for r in got)
    median = statistics.median([r if r is not None else budget + 1 for r in reach])
    return [
        f"Hybrid vs optimize-only ({budget} steps x 4 random restarts) on the same {k} faces, hybrid re-run with the "
        f"same {budget}-step budget: it reached optimize's final objective on {len(got)}/{k} faces, within {quarter} "
        f"steps (1/4) on {within}/{k}; steps needed: median {median:.0f}" + (f", max {max(got)}" if got else "")
        + f" — target (<= {quarter}) " + ("met on every face." if within == k else
                                          ("met by the median face." if median <= quarter else "not met.")),
        f"Mean final objective: optimize {statistics.mean(r.losses[-1] for _, r in opt):.4f}; hybrid with its "
        f"default {hyb[0][1].steps} steps {statistics.mean(r.losses[-1] for _, r in hyb[:k]):.4f}, with "
        f"{budget} steps {statistics.mean(finals):.4f}.",
    ]


def default_architecture_timing(images: list[np.ndarray], attributes: list[str], n: int) -> str:
    """Time per face with the *default* 64 px architecture (weights random: time does not depend on them)."""
    from engine.bundle import Bundle, make_manifest
    from engine.invert import invert
    from engine.models.cgan import ConvEncoder, Discriminator, Generator, LatentDiscriminator

    k = len(attributes)
    torch.manual_seed(0)
    nets = {
        "generator": Generator(Generator.Config(64, 100, k)), "discriminator": Discriminator(Discriminator.Config(64, k)),
        "encoder_z": ConvEncoder(ConvEncoder.Config(64, 100)), "encoder_y": ConvEncoder(ConvEncoder.Config(64, k)),
        "encoder_domain": ConvEncoder(ConvEncoder.Config(64, 100)),
        "latent_discriminator": LatentDiscriminator(LatentDiscriminator.Config(100)),
    }
    for net in nets.values():
        net.eval().requires_grad_(False)
    bundle = Bundle(make_manifest("cgan", 64, attributes, nets), nets)
    rows = []
    for method, count in (("encoder", n), ("hybrid", n), ("in-domain", n), ("force-in-domain", n), ("optimize", max(2, n // 5))):
        invert(images[0], bundle, method, steps=2)
        secs = []
        for i in range(min(count, len(images))):
            t = time.perf_counter()
            r = invert(images[i], bundle, method, seed=i)
            secs.append(time.perf_counter() - t)
        t = statistics.median(secs)
        rows.append([method, len(secs), r.steps, f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s"])
    return markdown_table(["method", "faces", "steps", "median time / face"], rows)


def run(args: argparse.Namespace) -> str:
    from engine.bundle import load_bundle
    from engine.invert import METHODS, invert
    from engine.metrics import attribute_accuracy, latent_distance, psnr, ssim

    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.bundle)
    classifier = load_bundle(args.classifier) if args.classifier else None
    images, labels, attrs, source = load_faces(bundle, args.n, Path(args.celeba), args.split)
    methods = [m for m in args.methods.split(",") if all(bundle.has(r) for r in METHODS[m].needs)]
    skipped = [m for m in args.methods.split(",") if m not in methods]
    invert(images[0], bundle, "hybrid" if "hybrid" in methods else methods[0], steps=2)  # warm-up

    results: dict[str, list] = {}
    for method in methods:
        count = min(len(images), args.n_optimize) if method == "optimize" else len(images)
        out = []
        for i in range(count):
            t = time.perf_counter()
            r = invert(images[i], bundle, method, seed=i)
            out.append((time.perf_counter() - t, r))
        results[method] = out
        print(f"{method}: {count} faces, {statistics.mean(s for s, _ in out):.3f} s/face", flush=True)

    ld = bundle.network("latent_discriminator") if bundle.has("latent_discriminator") else None
    header = ["method", "faces", "steps", "time / face", "PSNR dB", "SSIM", "Frechet to N(0,I)", "|z|/sqrt(d)"]
    if ld is not None:
        header.append("LD score")
    if classifier is not None:
        header.append("attribute acc.")
    rows = []
    for method, out in results.items():
        recs = [r for _, r in out]
        secs = [s for s, _ in out]
        n = len(recs)
        p = [psnr(r.reconstruction, images[i]) for i, r in enumerate(recs)]
        s = [ssim(r.reconstruction, images[i]) for i, r in enumerate(recs)]
        lat = latent_distance(np.stack([r.code.z for r in recs]), ld) if n >= 2 else {}
        t = statistics.mean(secs)
        row = [method, n, recs[0].steps, f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s",
               f"{np.mean(p):.2f}", f"{np.mean(s):.3f}", f"{lat.get('frechet_prior', float('nan')):.1f}",
               f"{lat.get('norm_ratio', float('nan')):.2f}"]
        if ld is not None:
            row.append(f"{lat.get('ld_score', float('nan')):.2f}")
        if classifier is not None:
            acc = attribute_accuracy(classifier, [r.reconstruction for r in recs], labels[:n], attrs)
            row.append(f"{acc.get('mean', float('nan')):.3f}")
        rows.append(row)
    body = [f"Model: `{args.bundle}` — {bundle.name}, {bundle.resolution} px, attributes {', '.join(bundle.attributes)}.",
            f"{args.model_note}" if args.model_note else "",
            f"Faces: {source}; {len(images)} faces (optimize: {min(len(images), args.n_optimize)}).",
            "", markdown_table(header, rows), ""]
    if classifier is not None:
        acc = attribute_accuracy(classifier, images, labels, attrs)
        body.append(f"Classifier `{args.classifier}` on the original faces: mean attribute accuracy {acc.get('mean', 0):.3f} "
                    "(the ceiling for the reconstructions' column).")
    if "hybrid" in results and "optimize" in results:
        body += hybrid_reach(bundle, images, results["optimize"], results["hybrid"])
    if skipped:
        body.append(f"Not run (bundle lacks their networks): {', '.join(skipped)}.")
    if args.arch_timing:
        body += ["", "Time per face with the default 64 px architecture (G/D 64 base channels, encoders 32, z_dim 100; "
                 "random weights — time depends on the architecture, not the weights), same faces:", "",
                 default_architecture_timing(images, bundle.attributes, args.arch_timing)]
    return "\n".join(body)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True)
    p.add_argument("--classifier")
    p.add_argument("--n", type=int, default=200, help="faces (default 200)")
    p.add_argument("--n-optimize", type=int, default=20, help="faces for optimize-only (slow; default 20)")
    p.add_argument("--methods", default="encoder,hybrid,optimize,in-domain,force-in-domain")
    p.add_argument("--celeba", default=str(CELEBA))
    p.add_argument("--split", choices=["val", "test"], help="use a partition split instead of the held-out list")
    p.add_argument("--threads", type=int, default=2,
                   help="torch threads (default 2, one per core, as the app and CLI run; use 1 while other "
                        "jobs share the CPU: OpenMP threads thrash there)")
    p.add_argument("--arch-timing", type=int, default=0, metavar="N",
                   help="also time N faces with the default 64 px architecture (random weights)")
    p.add_argument("--model-note", default="", help="one line saying what the model is (written into the report)")
    p.add_argument("--no-write", action="store_true", help="print only; do not touch docs/benchmarks.md")
    run_and_write("inversion", "GAN inversion", run, p.parse_args(argv))


if __name__ == "__main__":
    main()
