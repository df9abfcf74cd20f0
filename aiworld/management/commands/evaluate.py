"""python manage.py evaluate [--archetype A] [--model-version N] [--encounters 1000]: the fused ONNX network
against the traditional-AI pack on paired seeds of the held-out scenarios; win rate with a Wilson 95%
interval and the archetype's objective scores go to the registry; the candidate becomes active if it
beats the active version (or none is active). --plot writes the win rate per model version and archetype."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from aiworld.mobs.state import ARCHETYPES
from aiworld.services import training


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--archetype", choices=ARCHETYPES, help="default: every archetype with an export")
        parser.add_argument("--model-version", type=int, help="default: the newest fully trained version")
        parser.add_argument("--encounters", type=int, default=1000, help="paired encounters per archetype")
        parser.add_argument("--precision", choices=("fp32", "fp16", "int8"),
                            help="default: int8 (what a CPU worker serves), fp32 if int8 failed its parity check")
        parser.add_argument("--no-promote", action="store_true", help="record only")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--plot", type=Path, help="write the win rate per model version (PNG) here")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **o):
        from trainers import jobs

        try:
            pairs = training.trained_versions(o["archetype"], o["model_version"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for archetype, version in pairs:
            args = jobs.pipeline_args(archetype, version, seed=o["seed"], progress=not o["no_progress"])
            r = jobs.evaluate(args, encounters=o["encounters"], precision=o["precision"], promote=not o["no_promote"])
            self.stdout.write(
                f"{archetype} v{version} ({r['precision']}): win rate {r['win_rate']:.1%} "
                f"[{r['wilson_low']:.1%}, {r['wilson_high']:.1%}] over {r['encounters']} paired encounters "
                f"({r['wins']} wins); " + ("promoted" if r["promoted"] else "not promoted"))
        if o["plot"]:
            from trainers.plots import plot_win_rates

            plot_win_rates(training.win_rate_history(), o["plot"])
            self.stdout.write(f"plot written to {o['plot']}")
