"""What map servers report about their world: trades and drops (the economy agents' input) and the
state of each map (players online, weather, time of day...). Idempotent by report id."""

from __future__ import annotations

from aiworld.errors import PayloadError
from aiworld.models import EconomyReport, WorldState

MAX_REPORTS = 1000
MAX_STATE_KEYS = 50


def record_economy(server: str, reports: object) -> int:
    """Insert the reports not seen before; returns how many were new."""
    if not isinstance(reports, list) or not 1 <= len(reports) <= MAX_REPORTS:
        raise PayloadError("bad_reports", f"reports must be a list of 1..{MAX_REPORTS} objects")
    kinds = set(EconomyReport.Kind.values)
    rows = []
    for i, item in enumerate(reports):
        if not isinstance(item, dict):
            raise PayloadError("bad_reports", f"reports[{i}] must be an object")
        problems = [name for name, ok in (
            ("id", isinstance(item.get("id"), str | int) and str(item.get("id")) != ""),
            ("kind", item.get("kind") in kinds),
            ("map", isinstance(item.get("map"), str) and 0 < len(item.get("map")) <= 40),
            ("item_id", _natural(item.get("item_id"))),
            ("units", _natural(item.get("units")) and item.get("units") > 0),
            ("price", item.get("price", 0) == 0 or _natural(item.get("price"))),
        ) if not ok]
        if problems:
            raise PayloadError("bad_reports", f"reports[{i}]: bad {', '.join(problems)} (kinds: {sorted(kinds)})")
        rows.append(EconomyReport(server=server, report_id=str(item["id"])[:64], kind=item["kind"], map=item["map"],
                                  item_id=item["item_id"], units=item["units"], price=item.get("price", 0)))
    before = EconomyReport.objects.filter(server=server, report_id__in=[r.report_id for r in rows]).count()
    EconomyReport.objects.bulk_create(rows, ignore_conflicts=True)
    return len({r.report_id for r in rows}) - before


def _natural(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def record_world_state(server: str, map_name: object, state: object) -> WorldState:
    if not isinstance(map_name, str) or not 0 < len(map_name) <= 40:
        raise PayloadError("bad_map", "map must be a map name of 1..40 characters")
    if not isinstance(state, dict) or len(state) > MAX_STATE_KEYS:
        raise PayloadError("bad_state", f"state must be an object with at most {MAX_STATE_KEYS} keys")
    row, _ = WorldState.objects.update_or_create(server=server, map=map_name, defaults={"state": state})
    return row
