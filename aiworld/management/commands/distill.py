"""python manage.py distill --archetype A [--teacher-version V] [--model-version N]: a small network that plays
like a fused version (default: the active one) at a fraction of its inference (trainers/distill.py), exported,
registered, played on the held-out scenarios against its teacher's win rate on the same encounters, and made
active when it is at most --margin below it. Runs in this process; the `train` queue's aiworld.train.distill
does the same on a train worker."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from aiworld.mobs.state import ARCHETYPES


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--archetype", choices=ARCHETYPES, help="default: every archetype with an active model")
        parser.add_argument("--teacher-version", type=int, help="the fused version to copy (default: the active one)")
        parser.add_argument("--model-version", type=int, help="the version the student becomes (default: the one "
                            "an earlier distillation of the same teacher made, else a new one)")
        parser.add_argument("--scale", type=float, default=1.0, help="collection budget multiplier (10 batches x "
                            "128 encounters per round at 1)")
        parser.add_argument("--rounds", type=int, help="collection rounds (default 3: the teacher's, two DAgger)")
        parser.add_argument("--hidden", type=int, help="width of the student's two hidden layers (default 256)")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--encounters", type=int, help="held-out encounters per side (default 1000)")
        parser.add_argument("--margin", type=float, help="how far below its teacher's held-out win rate the student "
                            "may be and still replace it (default 0.01)")
        parser.add_argument("--no-promote", action="store_true", help="register and evaluate only")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **o):
        from aiworld.services import training
        from trainers import jobs

        if not 0 < o["scale"] <= 100:
            raise CommandError("--scale must be in (0, 100]")
        archetypes = [o["archetype"]] if o["archetype"] else \
            [a for a in ARCHETYPES if training.active_version(a) is not None]
        if o["model_version"] and len(archetypes) > 1:
            raise CommandError("--model-version needs --archetype")
        overrides = {k: o[k] for k in ("rounds", "hidden") if o[k]}
        for archetype in archetypes:
            try:
                result = jobs.distill(archetype, o["model_version"], teacher_version=o["teacher_version"],
                                      scale=o["scale"], seed=o["seed"], encounters=o["encounters"],
                                      promote=not o["no_promote"], progress=not o["no_progress"],
                                      margin=jobs.DISTILL_MARGIN if o["margin"] is None else o["margin"],
                                      distill_args=overrides)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            teacher = result["teacher"]
            self.stdout.write(
                f"{archetype} v{result['version']} (distilled from v{teacher['version']}, {result['precision']}): "
                f"held-out win rate {result['win_rate']:.1%} [{result['wilson_low']:.1%}, {result['wilson_high']:.1%}]"
                f", teacher {teacher['win_rate']:.1%} on the same {result['encounters']} encounters; "
                + ("promoted" if result["promoted"] else "not promoted"))
