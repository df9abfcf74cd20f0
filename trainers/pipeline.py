"""One archetype's nine models, their fusion, export, evaluation and promotion (docs/learning.md).

Order (each step reads what the ones before it left):
1. the RL members learn in the arena on the archetype's reward: combat_dqn and skill_dqn (dqn.py),
   movement_ppo (ppo.py, movement actions plus ATTACK), soft_actor_critic (sac.py, ArenaMove-v0); each DQN's
   serving temperature is then fitted on its own states (networks.fit_temperature: its greedy action gets
   DQN_CONFIDENCE probability on average), so that its Q values weigh like probabilities in a fusion;
2. the teacher, a lookahead search over the traditional AI (trainers/lookahead.py: every candidate action,
   255 included, played in copies of the arena and followed by the traditional AI), plays the train
   scenarios with some exploration; every decision gives the history, every candidate's value, the best
   candidate, the target's behaviour pattern and the HP lost in the next 2 s. With `dagger_from`, an earlier
   version's fused policy plays instead and the teacher only labels what it meets; that version's dataset
   is added to the new decisions (DAgger: the students learn the states their own play leads to);
3. the supervised members learn from that, with 11 outputs (the 11th is action 255: leave the monster to
   the map server's AI): threat_assessment regresses the HP lost per action taken, team_coordination /
   spatial_vit / temporal_transformer regress the candidates' values (centred, in units of VALUE_SCALE)
   from their own inputs, so their argmax is the candidate the teacher values most; pattern_recognition
   does the same while classifying the target's pattern;
4. fusion weights by forward selection: the member that wins most alone, then each other member only if
   adding it raises the fused policy's win rate on validation seeds of the train scenarios (held-out
   scenarios are never used to choose);
5. export of every member and of the fused network (FP32/FP16/INT8, parity-checked), registration;
6. evaluation of the fused INT8 network on the held-out scenarios against traditional AI; the candidate
   becomes active if it beats the active version (trainers.evaluate.should_promote on a paired
   comparison) or if there is none.
Every step leaves files under <models dir>/<archetype>/v<version>/ and a row in the registry; a rerun
of the same version skips members whose weights file exists (and trainers resume from checkpoints).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from aiworld.mobs.state import ARCHETYPES, MODEL_ACTIONS, MODEL_OUTPUTS, Action, output_actions
from trainers import networks
from trainers.fusion import FusedPolicy

if TYPE_CHECKING:
    from trainers.evaluate import EvalReport
    from trainers.lookahead import Behaviour

log = logging.getLogger("aiworld.train")

RL_TYPES = ("combat_dqn", "skill_dqn", "movement_ppo", "soft_actor_critic")
SUPERVISED_TYPES = ("threat_assessment", "team_coordination", "spatial_vit", "temporal_transformer",
                    "pattern_recognition")
MEMBER_TYPES = RL_TYPES + SUPERVISED_TYPES
ALGORITHM = {"combat_dqn": "dqn", "skill_dqn": "dqn", "movement_ppo": "ppo", "soft_actor_critic": "sac",
             **{t: "supervised" for t in SUPERVISED_TYPES}}
MOVEMENT_ACTIONS = tuple(int(a) for a in (Action.IDLE, Action.ATTACK, Action.MOVE_CLOSER, Action.MOVE_AWAY,
                                          Action.MOVE_RANDOM, Action.FLEE))
VALUE_SCALE = 0.01  # score points per logit unit: members regress the candidates' values / this
DQN_TYPES = ("combat_dqn", "skill_dqn")
DQN_CONFIDENCE = 0.9  # mean probability a fitted DQN softmax gives its greedy action on its own states
CALIBRATION_TICKS, CALIBRATION_ARENAS = 100, 16  # per train scenario: the states a DQN temperature is fitted on
# Added to PipelineArgs.seed: each kind of evaluation plays its own encounters, the same for every version
VALIDATION_SEED, ABLATION_SEED, HELDOUT_SEED, HEAD_TO_HEAD_SEED = 10_000, 20_000, 30_000, 40_000
TRADITIONAL = int(Action.TRADITIONAL_AI)
PROCEDURAL_BALANCE = 64  # encounters per step when a generated structured map's balance is tuned (procedural.py)


@dataclass
class Budget:
    """How long each part trains. `scaled(f)` multiplies the step and tick counts (not the encounters:
    an evaluation's confidence interval should not shrink with a smoke run's budget)."""

    dqn_steps: int = 300_000
    """environment steps for each DQN member (combat_dqn, skill_dqn)"""
    ppo_steps: int = 600_000
    """environment steps for movement_ppo"""
    sac_steps: int = 30_000
    """environment steps for soft_actor_critic (about one gradient step per environment step: slow)"""
    num_envs: int = 64
    """controlled monsters stepped together by the RL trainers"""
    rollout_ticks: int = 400
    """ticks a DQN plays per train scenario to fit its serving temperature"""
    rollout_arenas: int = 128
    """arenas per train scenario in those rollouts"""
    lookahead_batches: int = 50
    """batches of `lookahead_arenas` encounters the lookahead teacher plays (cycling over the train scenarios)
    to build the supervised datasets; each decision costs 11 copies x 60 ticks of arena time per continuation"""
    lookahead_arenas: int = 16
    """encounters per teacher batch (lookahead.LookaheadArgs.arenas); smoke tests use fewer"""
    lookahead_continuations: int = 2
    """plays per candidate the teacher averages (lookahead.LookaheadArgs.continuations; version 3 used 1)"""
    supervised_epochs: int = 30
    """most epochs over the dataset for each supervised member (early stopping on validation loss ends most
    runs sooner; at 8 the value regression was still improving at the last epoch)"""
    tune_encounters: int = 256
    """validation encounters (train scenarios, other seeds) per fusion-weight decision (versions 1 to 4 used 96:
    the supervised members are a few points apart, and at 96 the choice was partly noise, docs/benchmarks.md)"""
    eval_encounters: int = 1000
    """held-out encounters for the final evaluation (the issue asks for at least 1,000)"""
    ablation_encounters: int = 200
    """held-out encounters per variant of the ablation table (fused policy without each member)"""

    def scaled(self, factor: float) -> Budget:
        counts = {k: max(1, int(v * factor)) for k, v in asdict(self).items()
                  if k.endswith(("_steps", "_ticks", "_batches"))}
        return replace(self, **counts)


@dataclass
class PipelineArgs:
    archetype: str
    """one of aiworld.mobs.state.ARCHETYPES"""
    version: int
    """the model version being produced (files go to <out_root>/<archetype>/v<version>)"""
    out_root: Path
    """the models directory (settings.AIWORLD_MODELS_DIR)"""
    budget: Budget = field(default_factory=Budget)
    """step and encounter counts"""
    seed: int = 1
    """seeds every trainer, rollout and evaluation of this run"""
    device: str | None = None
    """torch device; None picks CUDA when present"""
    progress: bool = True
    """tqdm bars"""
    only_scenarios: tuple[str, ...] = ()
    """restrict every split to these scenarios (smoke tests); empty: all of them"""
    procedural: int = 0
    """generated train scenarios (trainers/arena/procedural.py, written to <out_dir>/scenarios/seed-<seed>) added to the
    RL members' training mix and to the lookahead teacher's games; validation, rollouts and evaluation keep
    the hand-made ones. 0: none"""
    procedural_kinds: tuple[str, ...] = ("open",)
    """their map kinds, taken in turn (trainers/arena/procedural.py KINDS: open, tunnels, gate, crossing)"""
    dagger_from: int | None = None
    """an earlier version of the archetype (with its dataset.npz and fusion.json) whose fused policy plays
    while the teacher labels (DAgger); its dataset is aggregated into this one's. None: the teacher plays"""
    blind_teacher: bool = False
    """the lookahead teacher uses nothing a state vector cannot carry: each play draws the party's behaviour
    patterns anew and fresh dice (LookaheadArgs.redraw_patterns, fresh_dice). False: the shipped versions' teacher"""

    @property
    def out_dir(self) -> Path:
        return self.out_root / self.archetype / f"v{self.version}"

    def scenarios(self, split: str) -> list[str]:
        """The split's scenarios holding this archetype (train: learning and tuning; heldout: evaluation)."""
        names = scenarios_with(self.archetype, split)
        return [n for n in names if n in self.only_scenarios] if self.only_scenarios else names


# -- scenarios and environments -------------------------------------------------------------------------------

def scenarios_with(archetype: str, split: str) -> list[str]:
    """Scenario names of a split whose pack holds at least one monster of the archetype."""
    from trainers.arena import load_scenario, scenario_names

    return [name for name in scenario_names(split=split) if archetype in load_scenario(name).archetypes]


def train_mix(args: PipelineArgs, seed: int) -> list[str]:
    """The train scenarios holding the archetype, and args.procedural generated ones (of the map kinds
    args.procedural_kinds) drawn with `seed`."""
    from trainers.arena import procedural

    generated = procedural.write(args.archetype, args.procedural, seed, args.out_dir / "scenarios" / f"seed-{seed}",
                                 args.procedural_kinds, PROCEDURAL_BALANCE) if args.procedural else []
    return args.scenarios("train") + generated


def _env_kwargs(args: PipelineArgs) -> dict:
    """The RL members' training mix."""
    return {"scenarios": train_mix(args, args.seed), "archetype": args.archetype}


# -- members: train, save, load -------------------------------------------------------------------------------

def json_safe(value: object) -> object:
    """Metrics as strict JSON (PostgreSQL's json rejects NaN): NaN and infinities become None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def weights_path(args: PipelineArgs, model_type: str) -> Path:
    return args.out_dir / f"{model_type}.pt"


def save_member(args: PipelineArgs, model_type: str, module: nn.Module, metrics: dict) -> None:
    """Weights and metrics (already JSON-safe: train_member makes them so) of a trained member."""
    args.out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(networks.servable(module).state_dict(), weights_path(args, model_type))
    (args.out_dir / f"{model_type}.metrics.json").write_text(json.dumps(metrics, indent=1))


def load_member(args: PipelineArgs, model_type: str) -> nn.Module:
    outputs = member_metrics(args, model_type).get("outputs", MODEL_ACTIONS)
    module = networks.build(model_type, **({"n_actions": outputs} if outputs != MODEL_ACTIONS else {}))
    module.load_state_dict(torch.load(weights_path(args, model_type), map_location="cpu", weights_only=True))
    return module.eval()


def member_metrics(args: PipelineArgs, model_type: str) -> dict:
    path = args.out_dir / f"{model_type}.metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _train_rl(args: PipelineArgs, model_type: str) -> tuple[nn.Module, dict]:
    from trainers import dqn, ppo, sac
    from trainers.arena_mix import mix_num_envs

    run_dir = args.out_dir / "runs" / model_type
    b = args.budget
    kwargs = _env_kwargs(args)
    num_envs = mix_num_envs(kwargs["scenarios"], args.archetype, b.num_envs)
    common = {"seed": args.seed, "device": args.device, "run_dir": run_dir, "num_envs": num_envs}
    if model_type in ("combat_dqn", "skill_dqn"):
        result = dqn.train(dqn.DQNArgs(env_id="aiworld/ArenaMix-v0", env_kwargs=kwargs,
                                       total_steps=b.dqn_steps, learning_starts=min(5_000, b.dqn_steps // 4),
                                       buffer_size=200_000, exploration_fraction=0.3, target_update_period=1_000,
                                       train_frequency=4, batch_size=256, learning_rate=5e-4,
                                       checkpoint_every=max(10_000, b.dqn_steps // 10), **common),
                           network_fn=networks.dqn_network_fn(model_type), progress=args.progress)
    elif model_type == "movement_ppo":
        result = ppo.train(ppo.PPOArgs(env_id="aiworld/ArenaMix-v0", env_kwargs=kwargs,
                                       total_steps=b.ppo_steps, allowed_actions=MOVEMENT_ACTIONS, num_steps=64,
                                       checkpoint_every=max(50_000, b.ppo_steps // 10), **common),
                           network_fn=networks.ppo_network_fn(model_type), progress=args.progress)
    elif model_type == "soft_actor_critic":
        result = sac.train(sac.SACArgs(env_id="aiworld/ArenaMixMove-v0", env_kwargs=kwargs,
                                       total_steps=b.sac_steps, learning_starts=min(2_000, b.sac_steps // 4),
                                       checkpoint_every=max(10_000, b.sac_steps // 10),
                                       **{**common, "num_envs": mix_num_envs(kwargs["scenarios"], args.archetype,
                                                                             min(b.num_envs, 16))}),
                           network_fn=networks.sac_network_fn(), progress=args.progress)
    else:
        raise ValueError(f"{model_type} is not a reinforcement-learning member")
    return networks.servable(result.model), dict(result.metrics)


def calibrate(args: PipelineArgs, model_type: str, module: nn.Module) -> float:
    """Fits a DQN's serving temperature on the states it meets playing the train scenarios greedily, sets it
    on `module` and returns it (networks.fit_temperature)."""
    net = networks.servable(module)
    small = replace(args, progress=False, budget=replace(args.budget, rollout_ticks=CALIBRATION_TICKS,
                                                         rollout_arenas=CALIBRATION_ARENAS))
    states = greedy_states(small, FusedPolicy({model_type: net}, {model_type: 1.0}).eval())
    with torch.no_grad():
        temperature = networks.fit_temperature(net.q_values(torch.from_numpy(states)), DQN_CONFIDENCE)
        net.temperature.fill_(temperature)
    log.info("%s/%s v%d: temperature %.4g fitted on %d states", args.archetype, model_type, args.version,
             temperature, len(states))
    return temperature


def calibrate_saved(args: PipelineArgs) -> None:
    """Fits the temperature of saved DQN members trained before their trainer did (runs of older code)."""
    for model_type in DQN_TYPES:
        metrics = member_metrics(args, model_type)
        if "temperature" not in metrics:
            module = load_member(args, model_type)
            metrics["temperature"] = calibrate(args, model_type, module)
            save_member(args, model_type, module, metrics)


def torch_policy(module: nn.Module) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A trainers.evaluate Policy from a history-input (fused) or state-input torch module."""
    kind = getattr(module, "input_kind", "history")

    def policy(states: np.ndarray, histories: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(histories if kind == "history" else states)
            return output_actions(module(x).argmax(dim=1).numpy())

    return policy


@dataclass
class Dataset:
    """The lookahead teacher's decisions (trainers/lookahead.py collect): output indices 0..10, 10 = 255."""

    histories: np.ndarray  # float32[N, 10, 64]
    values: np.ndarray  # float32[N, 11]: every candidate's value (the encounter score it led to)
    actions: np.ndarray  # int64[N]: the teacher's choice
    taken: np.ndarray  # int64[N]: the output played (the teacher's, or a random one)
    hp_loss: np.ndarray  # float32[N]: HP ratio lost over the next 2 s after `taken`
    patterns: np.ndarray  # int64[N]: the target's behaviour pattern, -1 none

    def save(self, path: Path) -> None:
        np.savez_compressed(path, **asdict(self))

    @classmethod
    def load(cls, path: Path) -> Dataset:
        with np.load(path) as data:
            if "values" not in data:
                raise ValueError(f"{path} holds the rollouts of the earlier RL-member teacher, not lookahead "
                                 "decisions: delete it (and the supervised members) to collect them")
            return cls(**{k: data[k] for k in ("histories", "values", "actions", "taken", "hp_loss", "patterns")})

    def centred_values(self) -> np.ndarray:
        """float32[N, 11]: each candidate's value minus the decision's mean, / VALUE_SCALE: what the
        imitating members regress (a served softmax of those logits weighs 0.01 score points as e)."""
        return ((self.values - self.values.mean(axis=1, keepdims=True)) / VALUE_SCALE).astype(np.float32)


def greedy_states(args: PipelineArgs, policy: nn.Module) -> np.ndarray:
    """float32[N, 64]: the states the archetype's monsters meet while `policy` (history input) plays them
    greedily on every train scenario for rollout_ticks ticks."""
    from trainers.arena import VecArena, load_scenario
    from trainers.evaluate import HistoryBuffer

    b = args.budget
    index = ARCHETYPES.index(args.archetype)
    seen: list[np.ndarray] = []
    for s, name in enumerate(args.scenarios("train")):
        arena = VecArena(load_scenario(name), num_arenas=b.rollout_arenas, seed=args.seed * 1000 + s, auto_reset=True)
        e, m = arena.archetype.shape
        history = HistoryBuffer(e, m)  # what serving's L1 working memory would hold
        for _ in range(b.rollout_ticks):
            states = arena.observe()
            history.push(states)
            controlled = (arena.archetype == index) & arena.alive
            actions = np.full((e, m), TRADITIONAL, np.int16)
            if controlled.any():
                seen.append(states[controlled])
                with torch.no_grad():
                    chosen = policy(torch.from_numpy(history.gather(controlled))).argmax(1).numpy()
                actions[controlled] = output_actions(chosen)
            step = arena.step(actions)
            if step.done.any():
                history.reset(step.done)
    if not seen:
        raise RuntimeError(f"no train scenario holds a {args.archetype} monster")
    return np.concatenate(seen)


@functools.lru_cache(maxsize=1)
def _load_dataset(path: Path, mtime_ns: int) -> Dataset:
    """The teacher's file, read once for the five supervised members and the export (not five times)."""
    return Dataset.load(path)


def dataset(args: PipelineArgs) -> Dataset:
    """The lookahead teacher's decisions on the train scenarios (dataset.npz; lookahead.json says how
    they were made and how often the teacher kept the traditional AI). With args.dagger_from, the decisions
    met by that version's fusion, added to that version's own dataset."""
    from trainers import lookahead

    path = args.out_dir / "dataset.npz"
    if path.exists():
        return _load_dataset(path, path.stat().st_mtime_ns)
    settings = lookahead.LookaheadArgs(seed=args.seed, continuations=args.budget.lookahead_continuations,
                                       arenas=args.budget.lookahead_arenas, fresh_dice=args.blind_teacher,
                                       redraw_patterns=args.blind_teacher)
    behaviour, earlier = None, None
    if args.dagger_from is not None:
        earlier = replace(args, version=args.dagger_from, dagger_from=None)
        check_same_teacher(args)
        behaviour = _behaviour(earlier)
        earlier_data = Dataset.load(earlier.out_dir / "dataset.npz")
        # other encounters than the earlier version's own (same scenarios, other seeds)
        settings = replace(settings, seed=args.seed + 1000 * args.version)
    started = time.monotonic()
    scenarios = train_mix(args, settings.seed)  # a DAgger version's generated maps differ from its parent's
    data = Dataset(**lookahead.collect(args.archetype, scenarios, args.budget.lookahead_batches,
                                       settings, progress=args.progress, behaviour=behaviour))
    new = len(data.actions)
    if earlier is not None:
        data = Dataset(**{k: np.concatenate([getattr(earlier_data, k), getattr(data, k)])
                          for k in asdict(data)})
    args.out_dir.mkdir(parents=True, exist_ok=True)
    data.save(path)
    shares = np.bincount(data.actions, minlength=MODEL_OUTPUTS) / len(data.actions)
    actions = output_actions(np.arange(MODEL_OUTPUTS)).tolist()
    (args.out_dir / "lookahead.json").write_text(json.dumps({
        "settings": asdict(settings), "batches": args.budget.lookahead_batches, "decisions": len(data.actions),
        "new_decisions": new, "dagger_from": args.dagger_from, "scenarios": [Path(s).stem for s in scenarios],
        "seconds": round(time.monotonic() - started, 1),
        "best_action_share": {str(a): round(float(x), 4) for a, x in zip(actions, shares, strict=True)},
        "mean_gain_over_traditional": float((data.values.max(axis=1) - data.values[:, -1]).mean())}, indent=1))
    log.info("%s v%d: %d lookahead decisions recorded (%d new)", args.archetype, args.version, len(data.actions), new)
    return data


def check_same_teacher(args: PipelineArgs) -> None:
    """A DAgger version aggregates its parent's labels: both must come from the same teacher (ValueError)."""
    earlier = replace(args, version=args.dagger_from, dagger_from=None)
    record = earlier.out_dir / "lookahead.json"
    blind = record.exists() and json.loads(record.read_text())["settings"].get("redraw_patterns", False)
    if blind != args.blind_teacher:
        raise ValueError(f"{args.archetype} v{earlier.version}'s dataset was labelled by a "
                         f"{'blind' if blind else 'pattern-knowing'} teacher; v{args.version} asks for a "
                         f"{'blind' if args.blind_teacher else 'pattern-knowing'} one (blind_teacher must match "
                         "the version DAgger continues from)")


def _behaviour(earlier: PipelineArgs) -> Behaviour:
    """The fused policy of an earlier version (its fusion.json weights, its members' weights) as a
    lookahead behaviour: histories -> output indices."""
    path = earlier.out_dir / "fusion.json"
    if not path.exists() or not (earlier.out_dir / "dataset.npz").exists():
        raise ValueError(f"{earlier.archetype} v{earlier.version} has no fusion.json and dataset.npz to continue "
                         "from (dagger_from needs a version trained by this pipeline)")
    policy = fused(earlier, json.loads(path.read_text())["weights"])

    def choose(histories: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return policy(torch.from_numpy(histories)).argmax(dim=1).numpy()

    return choose


def _train_supervised(args: PipelineArgs, model_type: str) -> tuple[nn.Module, dict]:
    from trainers import supervised

    data = dataset(args)
    model = networks.build(model_type, n_actions=MODEL_OUTPUTS)
    model.learns_values = True  # the classifiers regress the teacher's values (threat_assessment ignores it)
    inputs = data.histories if model.input_kind == "history" else data.histories[:, -1]
    if model_type == "threat_assessment":
        targets, aux = data.hp_loss, data.taken  # the loss is known for the action taken only
    elif model_type == "pattern_recognition":
        targets, aux = data.centred_values(), data.patterns
    else:
        targets, aux = data.centred_values(), None
    result = supervised.train(
        supervised.SupervisedArgs(run_dir=args.out_dir / "runs" / model_type, seed=args.seed, device=args.device,
                                  epochs=args.budget.supervised_epochs),
        model, inputs, targets, aux_targets=aux, progress=args.progress)
    return networks.servable(result.model), {**result.metrics, "outputs": MODEL_OUTPUTS}


def train_member(args: PipelineArgs, model_type: str, *, force: bool = False) -> dict:
    """Train one member (skipped when its weights exist, unless force). Returns its metrics."""
    if model_type not in MEMBER_TYPES:
        raise ValueError(f"unknown member {model_type!r}; one of {', '.join(MEMBER_TYPES)}")
    if weights_path(args, model_type).exists() and not force:
        log.info("%s/%s v%d already trained", args.archetype, model_type, args.version)
        return member_metrics(args, model_type)
    if model_type in RL_TYPES and args.dagger_from is not None:
        return _carry_over(args, model_type)
    started = time.monotonic()
    trainer = _train_rl if model_type in RL_TYPES else _train_supervised
    module, metrics = trainer(args, model_type)
    if model_type in DQN_TYPES:
        metrics["temperature"] = calibrate(args, model_type, module)
    metrics = {**metrics, "algorithm": ALGORITHM[model_type], "train_seconds": round(time.monotonic() - started, 1)}
    metrics = json_safe(metrics)  # numpy scalars, NaN (no episode finished yet) -> registry-safe JSON
    save_member(args, model_type, module, metrics)
    log.info("%s/%s v%d trained in %.0f s: %s", args.archetype, model_type, args.version,
             metrics["train_seconds"], metrics)
    return metrics


def _carry_over(args: PipelineArgs, model_type: str) -> dict:
    """An RL member of a DAgger version is the earlier version's, unchanged: its training does not depend on
    the teacher. Returns its metrics (with `carried_from`)."""
    earlier = replace(args, version=args.dagger_from, dagger_from=None)
    if not weights_path(earlier, model_type).exists():
        raise ValueError(f"{args.archetype} v{args.dagger_from} has no {model_type} to carry over")
    metrics = {**member_metrics(earlier, model_type), "carried_from": args.dagger_from}
    save_member(args, model_type, load_member(earlier, model_type), metrics)
    log.info("%s/%s v%d: carried over from v%d", args.archetype, model_type, args.version, args.dagger_from)
    return metrics


# -- fusion, export, evaluation -------------------------------------------------------------------------------

def fused(args: PipelineArgs, weights: dict[str, float], loaded: dict[str, nn.Module] | None = None) -> FusedPolicy:
    """The fusion of the members with weight > 0; `loaded` reuses members already read from disk."""
    members = {t: (loaded[t] if loaded and t in loaded else load_member(args, t)) for t, w in weights.items() if w > 0}
    return FusedPolicy(members, {t: weights[t] for t in members}).eval()


def play_fused(args: PipelineArgs, weights: dict[str, float], split: str, encounters: int, seed: int,
               loaded: dict[str, nn.Module] | None = None) -> EvalReport:
    """trainers.evaluate.evaluate of the fused policy of `weights` on the split's scenarios (an EvalReport)."""
    from trainers.evaluate import evaluate

    return evaluate(torch_policy(fused(args, weights, loaded)), args.archetype, args.scenarios(split),
                    encounters=encounters, seed=seed, progress=False)


def select_members(args: PipelineArgs, candidates: tuple[str, ...]) -> tuple[dict[str, float], dict[str, float]]:
    """Forward selection on validation seeds of the train scenarios (held-out ones are never used): start
    from the candidate that wins most alone, add each other one (best alone first) only if the fused policy
    then wins more. A candidate that does not help gets weight 0. Returns the weights and every variant's
    validation win rate ("only <member>", "+<member>")."""
    loaded = {t: load_member(args, t) for t in candidates}

    def win_rate(members: list[str]) -> float:
        w = {t: 1.0 if t in members else 0.0 for t in candidates}
        return play_fused(args, w, "train", args.budget.tune_encounters, args.seed + VALIDATION_SEED, loaded).win_rate

    tried = {f"only {t}": win_rate([t]) for t in candidates}
    order = sorted(candidates, key=lambda t: -tried[f"only {t}"])
    chosen, best = [order[0]], tried[f"only {order[0]}"]
    for member in order[1:]:
        rate = tried[f"+{member}"] = win_rate([*chosen, member])
        if rate > best:
            chosen, best = [*chosen, member], rate
    log.info("%s v%d selection among %s: %s (validation win rate %.3f)", args.archetype, args.version,
             ", ".join(candidates), chosen, best)
    return {t: 1.0 if t in chosen else 0.0 for t in candidates}, tried


def tune_weights(args: PipelineArgs) -> tuple[dict[str, float], dict[str, float]]:
    """The served fusion: select_members over all nine members (DQNs saved without a serving temperature,
    by older code, get one fitted first)."""
    calibrate_saved(args)
    return select_members(args, MEMBER_TYPES)


def export_all(args: PipelineArgs, weights: dict[str, float]) -> dict[str, dict]:
    """FP32/FP16/INT8 ONNX of every member and of the fused network; parity-checked; {type: report}."""
    from trainers.export import ExportParityError, export_onnx

    data = dataset(args)
    rng = np.random.default_rng(args.seed)
    sample = data.histories[rng.choice(len(data.histories), min(4096, len(data.histories)), replace=False)]
    modules: dict[str, nn.Module] = {t: load_member(args, t) for t in MEMBER_TYPES}
    modules["fused"] = fused(args, weights, modules)
    reports = {}
    for model_type, module in modules.items():
        x = sample if module.input_kind == "history" else sample[:, -1]
        try:
            reports[model_type] = export_onnx(module, args.out_dir, model_type, x).to_dict()
        except ExportParityError as exc:  # keep the precisions that passed; the others are not served
            log.warning("%s %s v%d: %s", args.archetype, model_type, args.version, exc)
            reports[model_type] = exc.report.to_dict()
    return reports


def passed(report: dict) -> dict[str, dict]:
    """The precisions of an export report whose parity check passed (only those are registered)."""
    return {p: e for p, e in report["precisions"].items() if e["argmax_agreement"] >= report["min_agreement"]}


def ablation(args: PipelineArgs, weights: dict[str, float], encounters: int) -> dict[str, float]:
    """Held-out win rates: the fused policy ("full"), without each member it uses ("-member"), and with
    each member it does not use added ("+member"): every model's contribution, measured the same way."""
    variants = [("full", weights)]
    for t in MEMBER_TYPES:
        if weights.get(t, 0) > 0:
            variants.append((f"-{t}", {**weights, t: 0.0}))
        else:
            variants.append((f"+{t}", {**weights, t: 1.0}))
    loaded = {t: load_member(args, t) for t in MEMBER_TYPES}
    table = {}
    for name, w in variants:
        if not any(v > 0 for v in w.values()):
            continue
        table[name] = play_fused(args, w, "heldout", encounters, args.seed + ABLATION_SEED, loaded).win_rate
    return table
