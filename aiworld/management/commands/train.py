"""python manage.py train --archetype A --model-type T | --all: train members (and with --all the whole
archetype: members, fusion weights, export, evaluation, promotion). Runs in this process; the `train`
queue's tasks (aiworld.train.*) do the same on a train worker."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from aiworld.mobs.state import ARCHETYPES
from aiworld.services import training


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--archetype", choices=ARCHETYPES, help="one archetype (with --all: only this one)")
        parser.add_argument("--model-type", choices=training.MEMBER_TYPES, help="one member model")
        parser.add_argument("--all", action="store_true", help="all nine members, fusion, export and evaluation")
        parser.add_argument("--model-version", type=int, help="model version (default: continue the unfinished one)")
        parser.add_argument("--scale", type=float, default=1.0, help="budget multiplier (0.01 for a smoke run)")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--device", help="torch device (default: cuda when present)")
        parser.add_argument("--force", action="store_true", help="retrain a member that already has weights")
        parser.add_argument("--no-evaluate", action="store_true", help="with --all: stop after the export")
        parser.add_argument("--dagger-from", type=int, metavar="VERSION",
                            help="an earlier version whose fused policy plays while the teacher labels; its "
                                 "dataset and RL members are carried over (docs/learning.md, DAgger)")
        parser.add_argument("--continuations", type=int, metavar="K",
                            help="plays per candidate the lookahead teacher averages (default 2; more: a "
                                 "stronger, slower teacher)")
        parser.add_argument("--procedural", type=int, default=0, metavar="N",
                            help="generated train scenarios added to the RL members' mix and the teacher's games "
                                 "(default 0)")
        parser.add_argument("--procedural-kinds", nargs="+", default=["open"], metavar="KIND",
                            help="the generated maps' kinds, taken in turn: open (default), tunnels, gate, crossing "
                                 "(trainers/arena/procedural.py)")
        parser.add_argument("--blind-teacher", action="store_true",
                            help="the lookahead teacher does not use the party's behaviour patterns or the coming "
                                 "tick's dice, which no state vector carries (docs/learning.md)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **o):
        from trainers import jobs

        if o["all"] == bool(o["model_type"]):
            raise CommandError("give --model-type T (with --archetype A), or --all")
        if o["model_type"] and not o["archetype"]:
            raise CommandError("--model-type needs --archetype")
        archetypes = [o["archetype"]] if o["archetype"] else list(ARCHETYPES)
        for archetype in archetypes:
            version = o["model_version"] or training.current_version(archetype)
            try:
                args = jobs.pipeline_args(archetype, version, scale=o["scale"], seed=o["seed"], device=o["device"],
                                          progress=not o["no_progress"], dagger_from=o["dagger_from"],
                                          continuations=o["continuations"], procedural=o["procedural"],
                                          procedural_kinds=o["procedural_kinds"], blind_teacher=o["blind_teacher"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            if o["model_type"]:
                metrics = jobs.train_member(args, o["model_type"], force=o["force"])
                self.stdout.write(f"{archetype}/{o['model_type']} v{version}: {json.dumps(metrics, default=float)}")
                continue
            summary = jobs.run_archetype(args, evaluate_after=not o["no_evaluate"])
            evaluation = summary.get("evaluation")
            line = f"{archetype} v{version}: members trained, exported to {args.out_dir}"
            if evaluation:
                line += (f"; held-out win rate {evaluation['win_rate']:.1%} "
                         f"[{evaluation['wilson_low']:.1%}, {evaluation['wilson_high']:.1%}] "
                         f"over {evaluation['encounters']} paired encounters"
                         + ("; promoted" if evaluation["promoted"] else "; not promoted"))
            self.stdout.write(line)
