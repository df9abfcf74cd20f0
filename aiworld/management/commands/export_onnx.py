"""python manage.py export_onnx [--archetype A] [--model-version N]: FP32, FP16 and INT8 ONNX of every member and
of the fused network, each checked against PyTorch (argmax agreement >= 98%, max error reported), opset 17
and IR 9 pinned for the pinned onnxruntime, registered as candidates for serving."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from aiworld.mobs.state import ARCHETYPES
from aiworld.services import training


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--archetype", choices=ARCHETYPES, help="default: every archetype with trained members")
        parser.add_argument("--model-version", type=int, help="default: the newest fully trained version")

    def handle(self, *args, **o):
        from trainers import jobs

        try:
            pairs = training.trained_versions(o["archetype"], o["model_version"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        exported = 0
        for archetype, version in pairs:
            reports = jobs.export(jobs.pipeline_args(archetype, version, progress=False))
            for model_type, report in reports.items():
                parts = ", ".join(
                    f"{p} {e['argmax_agreement']:.2%} (max |err| {e['max_abs_error']:.2g}, "
                    f"{e['size_bytes'] / 1024:.0f} KiB"
                    + (")" if e["argmax_agreement"] >= report["min_agreement"] else "; below parity: not registered)")
                    for p, e in report["precisions"].items())
                self.stdout.write(f"{archetype}/{model_type} v{version}: {parts}")
            exported += 1
        self.stdout.write(f"{exported} archetype(s) exported and registered as candidates.")
