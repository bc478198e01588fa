"""Small parts of the watchlist: cadences, alert rules, SMTP settings, messages, planning."""
from __future__ import annotations

import datetime as dt

import pytest
from watch_testkit import BASELINE, EVENT_AOI, D

from landslide_core.errors import InputError
from landslide_core.sources.demo import DemoSource
from landslide_core.sources.request import DateWindow
from landslide_core.watch.alerts import build_message, result_link
from landslide_core.watch.cadence import format_cadence, parse_cadence
from landslide_core.watch.channels import AlertMessage, DeliveryError, send_email, send_webhook, smtp_settings
from landslide_core.watch.planning import plan_check
from landslide_core.watch.records import Alert, AlertRule, Area, Channel, Check


@pytest.mark.parametrize("text, days", [("5d", 5), ("12h", 0.5), ("2w", 14), (" 10 D ", 10), ("366d", 366)])
def test_cadence(text, days):
    every = parse_cadence(text)
    assert every == dt.timedelta(days=days)
    assert parse_cadence(format_cadence(int(every.total_seconds()))) == every


@pytest.mark.parametrize("text", ["", "5", "d5", "5 days", "-1d", "0h", "367d", "1.5d"])
def test_bad_cadence(text):
    with pytest.raises(InputError):
        parse_cadence(text)


def test_alert_rule():
    assert AlertRule(1.0, None).passes(1, 1.0) and not AlertRule(1.0, None).passes(9, 0.99)
    assert AlertRule(None, 3).passes(3, 0.1) and not AlertRule(None, 3).passes(2, 50.0)
    assert AlertRule(1.0, 3).passes(3, 0.0) and AlertRule(1.0, 3).passes(0, 2.0)
    assert not AlertRule(None, None).passes(100, 100.0) and AlertRule(None, None).describe() == "never"
    assert not AlertRule(1.0, None).passes(None, None)


def test_smtp_settings_from_the_secrets_file_and_the_environment(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[smtp]\nhost = "mail.example.org"\nport = 2525\nuser = "bot"\npassword = "pw"\n'
                       'from = "alerts@example.org"\nstarttls = true\n')
    s = smtp_settings(env={}, secrets_paths=[secrets])
    assert (s.host, s.effective_port, s.user, s.password, s.effective_sender, s.starttls) == (
        "mail.example.org", 2525, "bot", "pw", "alerts@example.org", True)
    assert "secrets.toml" in s.origin
    s = smtp_settings(env={"LANDSLIDE_SMTP_HOST": "127.0.0.1", "LANDSLIDE_SMTP_PORT": "25"}, secrets_paths=[secrets])
    assert (s.host, s.effective_port, s.user) == ("127.0.0.1", 25, "bot")  # the environment wins per key
    assert smtp_settings(env={}, secrets_paths=[]).host is None


def test_deliveries_fail_with_a_reason():
    message = AlertMessage("id-1", "subject", "text", {"a": 1})
    with pytest.raises(DeliveryError, match="No SMTP server is configured"):
        send_email("ops@example.org", message, smtp_settings(env={}, secrets_paths=[]))
    with pytest.raises(DeliveryError, match="could not be reached"):
        send_webhook("http://127.0.0.1:1/hook", message, timeout_s=2)


def _area(**kw) -> Area:
    values = dict(id=1, name="Andes", geometry=EVENT_AOI, created_at=dt.datetime(2024, 1, 1), cadence_s=5 * 86400,
                  cloud_limit_pct=30.0, model="m.json", source="demo",
                  source_options=DemoSource.watch_options(EVENT_AOI, DateWindow(*BASELINE)), detection_options={},
                  baseline=DateWindow(*BASELINE), rule=AlertRule(1.0, None), channels=[])
    values.update(kw)
    return Area(**values)


def test_alert_message_says_area_dates_counts_and_links_the_result(monkeypatch):
    check = Check(area_id=1, started_at=dt.datetime(2024, 2, 25, 12), finished_at=dt.datetime(2024, 2, 25, 12),
                  status="ok", baseline_date=D(2024, 1, 20), scene_date=D(2024, 2, 24), result_folder="/r/abc",
                  result_key="abcdef0123456789", new_count=4, new_ha=3.25, id=7)
    alert = Alert(id=3, check_id=7, channel=Channel("webhook", "http://x/y"), status="pending", attempts=0,
                  created_at=check.finished_at)
    monkeypatch.setenv("LANDSLIDE_DASHBOARD_URL", "http://dash.example.org:8501/")
    m = build_message(alert, check, _area())
    assert m.payload["dates"] == {"before": "2024-01-20", "after": "2024-02-24"}
    assert (m.payload["area"], m.payload["new_count"], m.payload["new_ha"]) == ("Andes", 4, 3.25)
    assert m.payload["result"]["url"] == "http://dash.example.org:8501/Compare?result=abcdef0123456789"
    assert "4 new landslide(s), 3.25 ha, in Andes" in m.subject and m.payload["result"]["url"] in m.text
    monkeypatch.delenv("LANDSLIDE_DASHBOARD_URL")
    assert result_link(check, base_url="") is None
    assert "Result folder: /r/abc" in build_message(alert, check, _area(), base_url="").text


def test_plan_first_check_and_rolling_baseline():
    area = _area()
    source = DemoSource(**area.source_options)
    plan = plan_check(area, None, source, D(2024, 2, 10))  # only storm passes since the baseline
    assert plan.request is None and not plan.rolling and plan.since == D(2024, 1, 31)
    assert "2024-02-04" in plan.reason and "2024-02-09" in plan.reason
    plan = plan_check(area, None, source, D(2024, 3, 6))  # newest clear pass: 5 Mar, against the baseline window
    assert plan.new_scene.date == D(2024, 3, 5) and plan.request.pre == area.baseline
    assert plan.request.post == DateWindow(D(2024, 3, 5), D(2024, 3, 5))
    last = Check(area_id=1, started_at=dt.datetime(2024, 2, 25), finished_at=dt.datetime(2024, 2, 25), status="ok",
                 scene_date=D(2024, 2, 24))
    plan = plan_check(area, last, source, D(2024, 3, 6))  # rolling: against the last scene used
    assert plan.rolling and plan.request.pre == DateWindow(D(2024, 2, 24), D(2024, 2, 24))
    assert plan_check(area, last, source, D(2024, 2, 24)).reason.startswith("No day after 2024-02-24")
    assert plan_check(area, last, source, D(2024, 2, 26)).reason.startswith("No pass over the area")
