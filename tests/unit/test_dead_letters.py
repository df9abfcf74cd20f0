import pytest

from aiworld.models import DeadLetter
from aiworld.services.dead_letters import record_dead_letter, resolve_dead_letters

pytestmark = pytest.mark.django_db


def test_record_keeps_the_payload_and_resolve_counts():
    letter = record_dead_letter(task_name="aiworld.mobs.decide", error_code="bad_vector",
                                error_message="state has 63 values", payload={"args": [1, 2]}, queue="gpu",
                                source="map-1")
    assert letter is not None and '"args": [1, 2]' in letter.payload
    assert resolve_dead_letters(DeadLetter.objects.all()) == 1
    assert resolve_dead_letters(DeadLetter.objects.all()) == 0  # already resolved


def test_bytes_and_oversized_payloads_are_kept_as_text():
    letter = record_dead_letter(task_name="t", error_code="c", error_message="m", payload=b"\xff" + b"x" * 2_000_000)
    assert len(letter.payload) == 1_000_000


def test_admin_lists_dead_letters_and_resolves_them(admin_client):
    record_dead_letter(task_name="aiworld.ops.echo", error_code="payload_not_object", error_message="expected",
                       payload="[]")
    page = admin_client.get("/admin/aiworld/deadletter/")
    assert page.status_code == 200 and b"payload_not_object" in page.content
    ids = [str(pk) for pk in DeadLetter.objects.values_list("pk", flat=True)]
    response = admin_client.post("/admin/aiworld/deadletter/",
                                 {"action": "mark_resolved", "_selected_action": ids}, follow=True)
    assert b"1 dead letter(s) marked resolved" in response.content
    assert not DeadLetter.objects.filter(resolved_at__isnull=True).exists()
