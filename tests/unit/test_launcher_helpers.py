import os

from aiworld import launcher


def test_procfile_declares_every_farm_process_and_a_release_step():
    commands = launcher.procfile_commands()
    assert set(launcher.FARM_PROCESSES) <= set(commands)
    assert "migrate" in commands["release"]
    assert "-Q gpu" in commands["worker-gpu"] and "-P threads" in commands["worker-gpu"]
    assert "-Q cpu" in commands["worker-cpu"] and "prefork" in commands["worker-cpu"]
    assert "-Q train" in commands["worker-train"] and "-c 1" in commands["worker-train"]
    assert "gunicorn" in commands["web"]


def test_dotenv_fills_only_what_the_environment_lacks(tmp_path, monkeypatch):
    monkeypatch.setenv("AW_TEST_KEPT", "from-environment")
    monkeypatch.delenv("AW_TEST_NEW", raising=False)
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nAW_TEST_KEPT=from-file\nexport AW_TEST_NEW='quoted value'\n\n")
    launcher.load_dotenv(dotenv)
    assert os.environ["AW_TEST_KEPT"] == "from-environment"
    assert os.environ["AW_TEST_NEW"] == "quoted value"
    monkeypatch.delenv("AW_TEST_NEW")
