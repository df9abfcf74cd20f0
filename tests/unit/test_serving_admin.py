"""What GMs see and do for monster decisions in the admin."""

import pytest

from aiworld.models import FallbackEvent, InferenceStats, ModelVersion, ServingPolicy
from aiworld.services import registry
from tests.support.models import install_models

pytestmark = pytest.mark.django_db


def test_gm_pages_render(admin_client, tmp_path):
    install_models(tmp_path, ("aggressive",))
    FallbackEvent.objects.create(worker="gpu@h", from_level=3, to_level=4, reason="3 bad batches in a row")
    InferenceStats.objects.create(worker="gpu@h", interval_s=10, batches=5, decisions=500, errors=0, level=3,
                                  latency_p50_ms=1.0, latency_p99_ms=2.0)
    for url, text in (("/admin/aiworld/modelversion/", b"combat_dqn"),
                      ("/admin/aiworld/fallbackevent/", b"3 bad batches"),
                      ("/admin/aiworld/inferencestats/", b"gpu@h"),
                      ("/admin/aiworld/servingpolicy/", b"serving policy")):
        page = admin_client.get(url)
        assert page.status_code == 200 and text in page.content, url


def test_activate_action_retires_the_previous_version(admin_client, tmp_path):
    install_models(tmp_path / "v1", ("aggressive",), version=1)
    install_models(tmp_path / "v2", ("aggressive",), version=2, activate=False)
    ids = list(ModelVersion.objects.filter(version=2).values_list("pk", flat=True))
    response = admin_client.post("/admin/aiworld/modelversion/",
                                 {"action": "activate_versions", "_selected_action": ids}, follow=True)
    assert b"3 model file(s) activated" in response.content
    assert set(ModelVersion.objects.filter(version=1).values_list("status", flat=True)) == {"retired"}
    assert {spec.version for spec in registry.snapshot().models} == {2}


def test_policy_forced_level_reaches_the_snapshot(admin_client):
    response = admin_client.post("/admin/aiworld/servingpolicy/add/", {"forced_level": "5", "difficulty": "0.5"},
                                 follow=True)
    assert response.status_code == 200
    policy = ServingPolicy.objects.get()
    assert (policy.forced_level, policy.difficulty) == (5, 0.5)
    assert registry.snapshot().forced_level == 5
    with pytest.raises(ValueError):
        registry.set_policy(difficulty=1.5)
