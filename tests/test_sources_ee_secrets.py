"""No part of a service-account key reaches a message, a log line or a shown exception
(issue 10 finding 3, issue 15 item 13). Every key here carries a marker string in its
private_key_id and its private_key text; a leak of either shows the marker."""
from __future__ import annotations

import json
import logging
import os
import traceback
from pathlib import Path

import pytest
from ee_service import PROJECT, ee_service, key_config, make_service_account_key  # noqa: F401

from landslide_core.errors import SourceError
from landslide_core.sources.ee_auth import find_config
from landslide_core.sources.ee_signin import contains_fragment, initialize, safe_text, self_test

MARKER = "MARKERc0ffee"
ROOT = Path(__file__).resolve().parent.parent


def marked_key(**kw) -> dict:
    return make_service_account_key(marker=MARKER, slot=1, **kw)


def without_token_uri() -> dict:
    return {k: v for k, v in marked_key().items() if k != "token_uri"}


def malformed() -> dict:
    key = marked_key()
    pem = key["private_key"]
    lines = pem.splitlines()
    lines[5] = lines[5][:20] + MARKER + "!!" + lines[5][34:]  # damaged base64 inside the block
    key["private_key"] = "\n".join(lines) + "\n"
    return key


def leaks(text: str) -> bool:
    return MARKER.lower() in text.lower() or "BEGIN PRIVATE KEY" in text


def shown(exc: BaseException) -> str:
    """Everything a person could be shown about an exception: message, repr, full traceback."""
    return "\n".join([str(exc), repr(exc), "".join(traceback.format_exception(exc))])


def config_for(tmp_path, key: dict):
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key))
    return find_config(env={"EE_SERVICE_ACCOUNT_KEY": str(path), "EE_PROJECT": PROJECT}, secrets_paths=[],
                       user_credentials_path=tmp_path / "none", adc_path=tmp_path / "none",
                       cloud_vm=lambda e: None)


def test_the_libraries_own_helper_would_leak_the_key():
    """Why credentials are built by the project: ee.ServiceAccountCredentials quotes the whole
    key in its exception when token_uri is missing."""
    import ee

    with pytest.raises(Exception) as exc:
        ee.ServiceAccountCredentials(None, key_data=json.dumps(without_token_uri()))
    assert leaks(str(exc.value))


@pytest.mark.parametrize("make_key, words", [
    (without_token_uri, "lacks token_uri"),
    (malformed, "cannot be read (it is damaged or cut short)"),
])
def test_a_damaged_key_gives_a_clear_message_and_no_part_of_it(tmp_path, caplog, ee_service, make_key, words):
    caplog.set_level(logging.DEBUG)
    cfg = config_for(tmp_path, make_key())
    assert cfg.kind is None and not leaks(repr(cfg))
    r = self_test(cfg, connect=True, http_transport=ee_service)
    assert not r.ready and words in r.message and "key.json" in r.message, r.message
    assert not leaks(r.message)
    with pytest.raises(SourceError) as exc:
        initialize(cfg, http_transport=ee_service)
    assert words in str(exc.value) and not leaks(shown(exc.value))
    assert not any(leaks(rec.getMessage()) for rec in caplog.records)
    assert ee_service.exchanges == []  # refused before anything is sent


def test_a_damaged_key_in_a_hand_written_secrets_table(tmp_path):
    secrets = tmp_path / "secrets.toml"
    lines = [f'EE_PROJECT = "{PROJECT}"', "[ee_service_account]"] + [
        f"{k} = {json.dumps(v)}" for k, v in without_token_uri().items()]
    secrets.write_text("\n".join(lines))
    cfg = find_config(env={}, secrets_paths=[secrets], user_credentials_path=tmp_path / "none",
                      adc_path=tmp_path / "none", cloud_vm=lambda e: None)
    r = self_test(cfg, connect=False)
    assert not r.ready and "lacks token_uri" in r.message and 'token_uri = "https://oauth2.googleapis.com/token"' in r.message
    assert not leaks(r.message)


def test_an_expired_or_deleted_key_is_refused_clearly_without_quoting_it(tmp_path, caplog, ee_service):
    caplog.set_level(logging.DEBUG)
    key = marked_key()
    ee_service.sign_up_key(key, revoked=True)
    cfg = config_for(tmp_path, key)
    assert cfg.kind == "service_account"
    with pytest.raises(SourceError) as exc:
        initialize(cfg, http_transport=ee_service)
    msg = str(exc.value)
    assert "refused the service-account key" in msg and "invalid_grant" in msg and "new JSON key" in msg
    assert not leaks(shown(exc.value)) and exc.value.__context__ is None and exc.value.__cause__ is None
    assert not leaks(self_test(cfg, http_transport=ee_service).message)
    assert not any(leaks(rec.getMessage()) for rec in caplog.records)
    assert [c.status for c in ee_service.calls("token")][-1] == 400


def test_safe_text_withholds_any_fragment_of_a_secret():
    cfg = key_config(marked_key())
    pem = cfg.key_info["private_key"]
    body = pem.splitlines()[3]
    assert safe_text(f"server said {body[5:20]}", cfg).startswith("details withheld")
    assert safe_text("Project proj-1 is not registered.", cfg) == "Project proj-1 is not registered."
    assert contains_fragment("xx " + MARKER + " yy", cfg.key_info["private_key_id"])
    assert not contains_fragment("The service is currently unavailable.", pem)


@pytest.mark.parametrize("make_key", [without_token_uri, malformed])
def test_the_cli_prints_no_part_of_a_damaged_key(tmp_path, monkeypatch, capsys, caplog, make_key):
    from landslide_core.cli import main

    caplog.set_level(logging.DEBUG)
    path = tmp_path / "key.json"
    path.write_text(json.dumps(make_key()))
    monkeypatch.setenv("EE_SERVICE_ACCOUNT_KEY", str(path))
    monkeypatch.setenv("EE_PROJECT", PROJECT)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.chdir(tmp_path)
    for args in (["-v", "sources"], ["sources", "--json"]):
        assert main(args) == 0
        out = capsys.readouterr()
        assert "key.json" in out.out and not leaks(out.out + out.err)
    assert not any(leaks(rec.getMessage()) for rec in caplog.records)


def test_the_home_page_shows_no_part_of_a_damaged_key(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from dashboard import ui

    path = tmp_path / "key.json"
    path.write_text(json.dumps(without_token_uri()))
    monkeypatch.setenv("EE_SERVICE_ACCOUNT_KEY", str(path))
    monkeypatch.setenv("EE_PROJECT", PROJECT)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("LANDSLIDE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LANDSLIDE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LANDSLIDE_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("LANDSLIDE_BASEMAPS", "0")
    ui.clear_readiness()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run(timeout=120)
    ui.clear_readiness()
    assert not at.exception
    texts = [str(e.value) for kind in ("warning", "success", "error", "info", "markdown", "caption")
             for e in getattr(at, kind)]
    page = "\n".join(texts)
    assert "lacks token_uri" in page
    assert not leaks(page)


def test_a_readiness_check_that_crashes_shows_only_the_failure_type(monkeypatch):
    """An unexpected exception in a self-test (its text may quote a credential) is named by type."""
    from dashboard import ui
    from landslide_core.sources.earthengine import EarthEngineSource

    def boom(self, connect=True):
        raise ValueError(f"bad key {MARKER}")

    monkeypatch.setattr(EarthEngineSource, "readiness", boom)
    ui.clear_readiness()
    try:
        ready, message = ui.source_readiness("earthengine", wait_s=30)
    finally:
        ui.clear_readiness()
    assert not ready and "ValueError" in message and not leaks(message)


def test_a_key_revoked_during_a_download_stops_it_clearly_without_quoting_it(tmp_path, caplog, ee_service):
    """The access token dies and the key is deleted meanwhile: the renewal is refused (a
    google-auth error inside the client library), the download stops, nothing is quoted."""
    from ee_service import add_granules, scene
    from test_sources_request import POST, PRE, SQUARE

    from landslide_core.sources.cache import SceneCache
    from landslide_core.sources.earthengine import EarthEngineSource
    from landslide_core.sources.request import AnalysisRequest

    caplog.set_level(logging.DEBUG)
    key = marked_key()
    ee_service.sign_up_key(key)
    add_granules(ee_service, [scene("a", "2023-01-20")])
    src = EarthEngineSource(cache=SceneCache(tmp_path / "c"), auth_config=config_for(tmp_path, key),
                            http_transport=ee_service)
    src.readiness()
    ee_service.sign_up_key(key, revoked=True)
    ee_service.tokens.clear()
    with pytest.raises(SourceError) as exc:
        src.fetch(AnalysisRequest(SQUARE, PRE, POST), PRE)
    assert "refused to renew the sign-in" in str(exc.value) and "sign in again" in str(exc.value)
    assert not leaks(shown(exc.value)) and exc.value.__context__ is None
    assert not any(leaks(rec.getMessage()) for rec in caplog.records)
    assert len(ee_service.calls("compute")) == 1  # not retried
