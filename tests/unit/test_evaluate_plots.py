"""trainers/plots.py writes real PNG files."""

from trainers.plots import plot_ablation, plot_distillation, plot_win_rates

PNG = b"\x89PNG\r\n\x1a\n"


def test_win_rate_plot(tmp_path):
    history = {"aggressive": [(0, 0.4, 0.3, 0.5), (1000, 0.6, 0.5, 0.7), (2000, 0.8, 0.72, 0.86)],
               "tank": [(0, 0.5, 0.4, 0.6), (2000, 0.55, 0.45, 0.65)], "mage": []}
    path = plot_win_rates(history, tmp_path / "sub" / "win_rates.png")
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 5000


def test_ablation_plot(tmp_path):
    table = {"aggressive": {"none": 0.7, "combat_dqn": 0.55, "spatial_vit": 0.68},
             "support": {"none": 0.6, "team_coordination": 0.4}}
    path = plot_ablation(table, tmp_path / "ablation.png")
    assert path.read_bytes().startswith(PNG)
    empty = plot_ablation({}, tmp_path / "empty.png")
    assert empty.read_bytes().startswith(PNG)


def test_distillation_plot(tmp_path):
    side = {"version": 4, "win_rate": 0.7, "wilson_low": 0.67, "wilson_high": 0.73, "us": 25.0}
    rows = [{"archetype": "tank", "teacher": side, "student": {**side, "version": 9, "us": 1.5}}]
    path = plot_distillation(rows, tmp_path / "distillation.png")
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 5000
