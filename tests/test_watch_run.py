"""`watch run` on the demo over a sequence of days: no new clear scene, the event, nothing new;
alerts to a local webhook and a local SMTP server; a failing channel retried; two runners at
once; a runner killed mid-check."""
from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from watch_testkit import (EVENT_AOI, box, cli_process, db_url, free_port, postgres_url,  # noqa: F401 - fixtures
                           wait_until, watch_env)

from landslide_core.cli import main
from landslide_core.watch.store import WatchStore


class Webhook:
    """A local HTTP server that records the JSON POSTed to it; answers the given codes in turn."""

    def __init__(self, codes=(200,)):
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.codes = list(codes)
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                code = hook.codes.pop(0) if len(hook.codes) > 1 else hook.codes[0]
                if code == 200:
                    hook.bodies.append(json.loads(body))
                    hook.headers.append(dict(self.headers))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/landslides"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """A local SMTP server (aiosmtpd) that keeps what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        box_ = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                box_.messages.append(envelope)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self):
        self.controller.stop()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def mailbox():
    pytest.importorskip("aiosmtpd")
    box_ = Mailbox()
    yield box_
    box_.close()


def _add(tmp_path, name, aoi, *extra):
    path = tmp_path / f"{name}.geojson"
    path.write_text(json.dumps(aoi))
    assert main(["watch", "add", "--name", name, "--aoi", str(path), "--baseline", "2024-01-01", "2024-01-31",
                 *extra]) == 0


def _history(env, name):
    with WatchStore(env["LANDSLIDE_DB_URL"]) as store:
        area = store.area(name)
        return store.history(area.id), store.alerts_of_area(area.id)


def _analyses(env) -> list:
    root = env["LANDSLIDE_RESULTS_DIR"]
    return [p for p in os.listdir(root) if not p.startswith(".")] if os.path.isdir(root) else []


def test_watch_run_follows_an_area_through_its_event(watch_env, tmp_path, webhook, mailbox, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("LANDSLIDE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("LANDSLIDE_SMTP_PORT", str(mailbox.port))
    monkeypatch.setenv("LANDSLIDE_DASHBOARD_URL", "http://127.0.0.1:8501/")
    _add(tmp_path, "Andes", EVENT_AOI, "--webhook", webhook.url, "--email", "ops@example.org", "--every", "5d")

    # 10 Feb: the passes since the baseline (4 and 9 Feb) are under the storm's clouds
    assert main(["watch", "run", "--due-only", "--now", "2024-02-10"]) == 0
    checks, _ = _history(watch_env, "Andes")
    assert [c.status for c in checks] == ["no_new_scene"]
    assert "2024-02-04" in checks[0].reason and "2024-02-09" in checks[0].reason
    assert _analyses(watch_env) == [] and checks[0].result_folder is None  # no fetch, no inference
    # the next day it is not due (every 5 days)
    assert main(["watch", "run", "--due-only", "--now", "2024-02-11"]) == 0
    assert "not due until 2024-02-15" in capsys.readouterr().out

    # 25 Feb: the first clear pass after the event (24 Feb) against the baseline
    assert main(["watch", "run", "--due-only", "--now", "2024-02-25"]) == 0
    checks, alerts = _history(watch_env, "Andes")
    event = checks[-1]
    assert event.status == "ok" and event.scene_date.isoformat() == "2024-02-24"
    assert event.baseline_date.isoformat() < "2024-02-01" and event.new_count >= 2 and event.new_ha >= 1.0
    assert os.path.isfile(os.path.join(event.result_folder, "done.json"))
    assert event.scenes["post"]["dates"] == ["2024-02-24"] and event.scenes["post"]["scene_ids"]
    assert sorted((a.channel.kind, a.status) for a in alerts) == [("email", "sent"), ("webhook", "sent")]

    # 6 Mar: 5 Mar is clear; against 24 Feb (the rolling baseline) nothing new
    assert main(["watch", "run", "--due-only", "--now", "2024-03-06"]) == 0
    checks, alerts = _history(watch_env, "Andes")
    after = checks[-1]
    assert after.status == "ok" and after.baseline_date.isoformat() == "2024-02-24"
    assert after.scene_date.isoformat() == "2024-03-05" and after.new_ha < 1.0
    assert [c.status for c in checks] == ["no_new_scene", "ok", "ok"] and len(alerts) == 2

    # exactly one alert per channel: a JSON to the webhook, one e-mail
    assert len(webhook.bodies) == 1 and len(mailbox.messages) == 1
    body = webhook.bodies[0]
    assert body["area"] == "Andes" and body["dates"] == {"before": event.baseline_date.isoformat(), "after": "2024-02-24"}
    assert body["new_count"] == event.new_count and body["new_ha"] == pytest.approx(event.new_ha, abs=1e-3)
    assert body["result"]["url"] == f"http://127.0.0.1:8501/Compare?result={event.result_key}"
    assert webhook.headers[0]["Idempotency-Key"] == body["alert_id"]
    mail = mailbox.messages[0]
    assert mail.rcpt_tos == ["ops@example.org"]
    message = email.message_from_bytes(mail.content, policy=email.policy.default)
    assert message["Subject"].startswith(f"Landslide monitor: {event.new_count} new landslide(s)")
    text = message.get_body(("plain",)).get_content()
    assert "'Andes'" in text and body["result"]["url"] in text
    (attachment,) = list(message.iter_attachments())
    assert json.loads(attachment.get_content())["alert_id"] != body["alert_id"]  # one alert per channel

    assert main(["watch", "history", "Andes"]) == 0
    table = capsys.readouterr().out
    assert "no new clear scene" in table and "webhook sent" in table and "email sent" in table


def test_a_failing_channel_is_recorded_and_retried_next_run(watch_env, tmp_path, mailbox, monkeypatch, capsys):  # noqa: F811
    hook = Webhook(codes=(503, 200))
    try:
        _add(tmp_path, "Andes", EVENT_AOI, "--webhook", hook.url, "--email", "ops@example.org")
        # no SMTP server configured yet, the webhook answers 503: both fail, and are recorded
        assert main(["watch", "run", "--now", "2024-02-25"]) == 0
        assert "failed 2" in capsys.readouterr().out
        checks, alerts = _history(watch_env, "Andes")
        assert checks[-1].status == "ok" and checks[-1].new_ha >= 1.0
        errors = {a.channel.kind: (a.status, a.attempts, a.error) for a in alerts}
        assert errors["webhook"][:2] == ("failed", 1) and "HTTP 503" in errors["webhook"][2]
        assert errors["email"][:2] == ("failed", 1) and "No SMTP server is configured" in errors["email"][2]
        # the next run retries them (the area itself has nothing new: no scene since 24 Feb)
        monkeypatch.setenv("LANDSLIDE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("LANDSLIDE_SMTP_PORT", str(mailbox.port))
        assert main(["watch", "run", "--now", "2024-02-26"]) == 0
        checks, alerts = _history(watch_env, "Andes")
        assert [c.status for c in checks] == ["ok", "no_new_scene"]
        assert {(a.channel.kind, a.status, a.attempts, a.error) for a in alerts} == {
            ("webhook", "sent", 2, None), ("email", "sent", 2, None)}
        assert len(hook.bodies) == 1 and len(mailbox.messages) == 1
        # and never again
        assert main(["watch", "run", "--now", "2024-02-27"]) == 0
        assert len(hook.bodies) == 1 and len(mailbox.messages) == 1
    finally:
        hook.close()


def test_two_runs_at_once_check_each_area_exactly_once(watch_env, tmp_path):  # noqa: F811
    names = [f"area{i}" for i in range(4)]
    for i, name in enumerate(names):
        _add(tmp_path, name, box(-72.3 + 0.05 * i, -13.4, 0.003))
    args = ["watch", "run", "--now", "2024-02-25", "--json"]
    procs = [cli_process(args, watch_env), cli_process(args + ["--due-only"], watch_env)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    reports = [json.loads(o[0]) for o in outs]
    checked = [o["area"] for r in reports for o in r["outcomes"] if o["status"] != "skipped"]
    assert sorted(checked) == names  # each area by exactly one of the two runners
    for name in names:
        checks, _ = _history(watch_env, name)
        assert len(checks) == 1 and checks[0].status in ("ok", "no_new_scene")


def test_a_check_killed_midway_leaves_no_row_and_is_redone(watch_env, tmp_path):  # noqa: F811
    _add(tmp_path, "Andes", EVENT_AOI)
    proc = cli_process(["watch", "run", "--now", "2024-02-25"], watch_env)
    with WatchStore(watch_env["LANDSLIDE_DB_URL"]) as store:
        holder = wait_until(lambda: store.area("Andes").claimed_by, timeout_s=120)
        os.kill(proc.pid, signal.SIGKILL)  # mid-check: it holds the area and has recorded nothing
        proc.communicate()
        area = store.area("Andes")
        assert store.count_checks(area.id) == 0 and area.claimed_by == holder and area.last_checked_at is None
    # the next run takes the area over from the dead runner at once and checks it
    assert main(["watch", "run", "--now", "2024-02-25"]) == 0
    checks, _ = _history(watch_env, "Andes")
    assert [c.status for c in checks] == ["ok"] and checks[0].new_ha >= 1.0
    with WatchStore(watch_env["LANDSLIDE_DB_URL"]) as store:
        assert store.area("Andes").claimed_by is None
