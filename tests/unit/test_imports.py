"""The web process and the gpu/cpu workers never load torch, the trainers or CrewAI."""

import json
import subprocess
import sys

from aiworld.env import PROJECT_ROOT

HEAVY = ("torch", "trainers", "crewai", "onnx")


def loaded_after(code: str) -> set[str]:
    script = code + "\nimport sys, json; print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120, env=None)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_web_process_imports_no_heavy_packages():
    loaded = loaded_after(
        "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'aiworld.settings')\n"
        "from aiworld.wsgi import application\n"
        "from django.urls import resolve; resolve('/admin/'); resolve('/metrics')\n"
        "import aiworld.admin, aiworld.views"
    )
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_task_modules_import_no_heavy_packages():
    loaded = loaded_after(
        "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'aiworld.settings')\n"
        "import django; django.setup()\n"
        "from aiworld.celery import app; app.loader.import_default_modules(); import aiworld.tasks"
    )
    assert "aiworld" in loaded
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
