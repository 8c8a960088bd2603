import json
import re

from faultwise.cli import main
from faultwise.rft.faultbench.runner import RunConfig
from faultwise.rft.fm.detect.profile import fit_profile
from faultwise.rft.fm.model import FMModel, save_model
from faultwise.rft.fm.monitor import FailureMonitor
from faultwise.rft.fm.remediate.actions import plan_action
from faultwise.rft.fm.remediate.supervisor import AlarmMark, AttemptReport, SupervisionReport
from faultwise.rft.fm.report import svg_curve
from faultwise.rft.signals import extract_signals


def test_svg_curve_marks_alarms_onset_and_nan():
    svg = svg_curve(
        "kl", [(1, 0.1), (2, 0.2), (3, float("nan")), (4, 5.0)], alarms=[3, 4], onset=2, rollbacks=[1]
    )
    assert svg.startswith("<svg") and svg.count('class="alarm"') == 2 and 'class="onset"' in svg
    assert 'class="rollback"' in svg and 'class="nan"' in svg


def test_report_of_a_run_dir_with_model_and_supervision(make_run, tmp_path, capsys):
    normal = [[(s.step, extract_signals(s)) for s in make_run(seed)] for seed in range(20)]
    model = FMModel(profile=fit_profile(normal))
    save_model(model, tmp_path / "m.json")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    recs = make_run(77, "kl_explosion", "easy", onset=10)
    (run_dir / "steps.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in recs))
    sup = SupervisionReport(
        run_id="r",
        status="recovered",
        attempts=[
            AttemptReport(attempt=0, first_alarm_step=10),
            AttemptReport(attempt=1, resumed_from_step=8),
        ],
        actions=[plan_action("kl_explosion", RunConfig().model_dump(), 1)],
        alarms=[AlarmMark(step=10, attempt=0, score=9.0, invariant="kl_dynamics")],
        final_settings={},
    )
    (run_dir / "supervision.json").write_text(sup.model_dump_json())
    out = tmp_path / "r.html"
    assert main(["rft", "report", str(run_dir), "--html", str(out), "--model", str(tmp_path / "m.json")]) == 0
    page = out.read_text()
    assert page.count("<svg") >= 6 and "kl_explosion" in page and "Recovered" in page
    fm = FailureMonitor(model)
    first = next(r.step for r in recs if fm.update(r).verdict.alarm)  # what the page must report
    assert 10 <= first <= 12  # at the onset (10), not before
    shown = re.findall(r"First alarm: step (\d+)<", page)
    assert shown == [str(first)] and "kl_dynamics" in page
    assert (
        not re.search(r"(src|href)=['\"]?https?:", page) and "<script" not in page
    )  # offline, self-contained


def test_report_of_a_plain_log_without_model(tmp_path):
    log = tmp_path / "verl.jsonl"
    log.write_text(
        "".join(
            json.dumps({"step": i, "data": {"actor/entropy": 1.0 - 0.01 * i, "actor/kl_loss": 0.01}}) + "\n"
            for i in range(1, 15)
        )
    )
    assert main(["rft", "report", str(log), "--html", str(tmp_path / "o.html")]) == 0
    assert "entropy" in (tmp_path / "o.html").read_text()
    assert main(["rft", "report", str(tmp_path / "none.log"), "--html", str(tmp_path / "x.html")]) == 2
    assert not (tmp_path / "x.html").exists()
