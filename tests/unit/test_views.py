import pytest

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_metrics_report_queue_backlog_from_the_real_broker(client, broker):
    broker.delete("train\x06\x166")
    broker.lpush("train\x06\x166", b"{}", b"{}")
    try:
        text = client.get("/metrics").content.decode()
    finally:
        broker.delete("train\x06\x166")
    assert 'aiworld_queue_length{priority="6",queue="train"} 2.0' in text
    assert "aiworld_dead_letters_unresolved 0.0" in text


def test_metrics_token(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200
