import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_gm_created_once_with_a_generated_password_printed_once(monkeypatch, capsys, client):
    monkeypatch.delenv("GM_PASSWORD", raising=False)
    monkeypatch.setenv("GM_USERNAME", "gamemaster")
    call_command("ensure_gm")
    first = capsys.readouterr().out
    assert "Created GM superuser 'gamemaster' with password: " in first
    password = first.split("password: ")[1].split()[0]
    user = get_user_model().objects.get(username="gamemaster")
    assert user.is_superuser and user.check_password(password)

    call_command("ensure_gm")
    second = capsys.readouterr().out
    assert "exists; left unchanged" in second and password not in second
    assert client.login(username="gamemaster", password=password)


def test_gm_password_from_environment(monkeypatch):
    monkeypatch.setenv("GM_USERNAME", "gm2")
    monkeypatch.setenv("GM_PASSWORD", "a-long-enough-password")
    call_command("ensure_gm")
    assert get_user_model().objects.get(username="gm2").check_password("a-long-enough-password")
