"""Earth Engine sign-in: every method ee.Initialize accepts, found locally, signed in through the
real client against the offline service (tests/ee_service.py), and said which one was used."""
from __future__ import annotations

import json

import pytest
from ee_service import (PROJECT, ee_service, key_config, make_service_account_key, unavailable)  # noqa: F401

from landslide_core.errors import SourceError
from landslide_core.sources.ee_auth import find_config
from landslide_core.sources.ee_signin import initialize, self_test


def config(tmp_path, env=None, vm=None, **kw):
    """find_config that sees only what the test gives it (never the machine's own sign-in)."""
    kw.setdefault("secrets_paths", [])
    kw.setdefault("user_credentials_path", tmp_path / "no-ee-credentials")
    kw.setdefault("adc_path", tmp_path / "no-adc.json")
    return find_config(env=env or {}, cloud_vm=lambda e: vm, **kw)


def write(path, obj) -> str:
    path.write_text(json.dumps(obj))
    return str(path)


def test_nothing_configured_says_what_is_missing_and_every_way_to_sign_in(tmp_path):
    r = self_test(config(tmp_path))
    assert not r.ready
    for words in ("not signed in", "EE_SERVICE_ACCOUNT_KEY", "earthengine authenticate",
                  "gcloud auth application-default login", "GOOGLE_APPLICATION_CREDENTIALS", "cloud machine",
                  "EE_PROJECT"):
        assert words in r.message, words


def test_service_account_key_signs_in_through_the_token_endpoint(tmp_path, ee_service):
    key = write(tmp_path / "key.json", ee_service.key)
    cfg = config(tmp_path, {"EE_SERVICE_ACCOUNT_KEY": key, "EE_PROJECT": PROJECT})
    assert cfg.kind == "service_account" and cfg.project == PROJECT and cfg.project_from.startswith("EE_PROJECT")
    r = self_test(cfg, connect=True, http_transport=ee_service)
    assert r.ready and "service-account key for bot@proj-1" in r.message and PROJECT in r.message
    assert [c.status for c in ee_service.calls("token")] == [200]
    assert [c.status for c in ee_service.calls("algorithms")] == [200]  # with the issued token


def test_key_table_in_streamlit_secrets(tmp_path):
    secrets = tmp_path / "secrets.toml"
    key = make_service_account_key()
    lines = ['EE_PROJECT = "from-secrets"', "[ee_service_account]"] + [f"{k} = {json.dumps(v)}" for k, v in key.items()]
    secrets.write_text("\n".join(lines))
    cfg = config(tmp_path, secrets_paths=[secrets])
    assert cfg.kind == "service_account" and cfg.project == "from-secrets"
    assert "Streamlit secrets" in cfg.description


def test_earthengine_authenticate_credentials_sign_in_with_their_refresh_token(tmp_path, ee_service):
    creds = tmp_path / "credentials"
    write(creds, {"refresh_token": "1//stored-token", "project": PROJECT})
    ee_service.sign_up_refresh_token("1//stored-token")
    cfg = config(tmp_path, user_credentials_path=creds)
    assert cfg.kind == "user" and cfg.project == PROJECT
    r = self_test(cfg, http_transport=ee_service)
    assert r.ready and "earthengine authenticate" in r.message, r.message


def test_a_revoked_stored_sign_in_says_to_authenticate_again(tmp_path, ee_service):
    creds = tmp_path / "credentials"
    write(creds, {"refresh_token": "1//old-token", "project": PROJECT})
    ee_service.sign_up_refresh_token("1//old-token", revoked=True)
    r = self_test(config(tmp_path, user_credentials_path=creds), http_transport=ee_service)
    assert not r.ready and "expired or was revoked" in r.message and "earthengine authenticate" in r.message


def test_user_credentials_without_project_say_how_to_set_one(tmp_path):
    creds = tmp_path / "credentials"
    write(creds, {"refresh_token": "r"})
    r = self_test(config(tmp_path, user_credentials_path=creds), connect=False)
    assert not r.ready and "no Cloud project" in r.message and "EE_PROJECT" in r.message


def test_google_application_credentials_with_a_service_account_key(tmp_path, ee_service):
    path = write(tmp_path / "adc-key.json", ee_service.key)
    cfg = config(tmp_path, {"GOOGLE_APPLICATION_CREDENTIALS": path})
    assert cfg.kind == "adc" and cfg.project == PROJECT  # from the key's project_id
    r = self_test(cfg, http_transport=ee_service)
    assert r.ready and "Application Default Credentials" in r.message and "GOOGLE_APPLICATION_CREDENTIALS" in r.message


def test_gcloud_application_default_login(tmp_path, ee_service):
    adc = tmp_path / "application_default_credentials.json"
    write(adc, {"type": "authorized_user", "client_id": "764086051850-x.apps.googleusercontent.com",
                "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty", "refresh_token": "1//adc-token",
                "quota_project_id": PROJECT})
    ee_service.sign_up_refresh_token("1//adc-token")
    cfg = config(tmp_path, adc_path=adc)
    assert cfg.kind == "adc" and cfg.project == PROJECT and "quota_project_id" in cfg.project_from
    r = self_test(cfg, http_transport=ee_service)
    assert r.ready and "gcloud auth application-default login" in r.message, r.message


def test_a_cloud_machine_signs_in_through_its_metadata_server(tmp_path, ee_service):
    ee_service.sign_up_vm()
    cfg = config(tmp_path, {"GOOGLE_CLOUD_PROJECT": PROJECT}, vm="GCE_METADATA_HOST is set")
    assert cfg.kind == "vm" and cfg.project == PROJECT
    r = self_test(cfg, http_transport=ee_service)
    assert r.ready and "cloud machine's service account" in r.message, r.message
    assert [c.route for c in ee_service.exchanges if c.route.startswith("metadata")]


def test_first_found_wins_and_a_broken_configured_key_is_reported_not_skipped(tmp_path):
    creds = tmp_path / "credentials"
    write(creds, {"refresh_token": "r", "project": PROJECT})
    key = write(tmp_path / "key.json", make_service_account_key())
    assert config(tmp_path, {"EE_SERVICE_ACCOUNT_KEY": key}, user_credentials_path=creds).kind == "service_account"
    assert config(tmp_path, user_credentials_path=creds, vm="x").kind == "user"
    broken = write(tmp_path / "broken.json", {k: v for k, v in make_service_account_key().items() if k != "token_uri"})
    cfg = config(tmp_path, {"EE_SERVICE_ACCOUNT_KEY": broken}, user_credentials_path=creds)
    assert cfg.kind is None and "lacks token_uri" in self_test(cfg).message


def test_bad_key_path_and_oauth_client_file_are_explained(tmp_path):
    r = self_test(config(tmp_path, {"EE_SERVICE_ACCOUNT_KEY": str(tmp_path / "missing.json")}))
    assert not r.ready and "missing.json" in r.message and "does not exist" in r.message
    oauth = write(tmp_path / "client.json", {"installed": {"client_id": "x"}})
    assert "not a service-account key" in self_test(config(tmp_path, {"EE_SERVICE_ACCOUNT_KEY": oauth})).message


def test_an_unregistered_project_is_explained(tmp_path, ee_service):
    with pytest.raises(SourceError, match="project other-proj is not set up for Earth Engine.*register"):
        initialize(key_config(ee_service.key, project="other-proj"), http_transport=ee_service)


def test_a_busy_service_at_sign_in_is_retried(tmp_path, ee_service):
    from landslide_core.sources.retry import RetryPolicy

    ee_service.fail("algorithms", unavailable())
    initialize(key_config(ee_service.key), http_transport=ee_service,
               policy=RetryPolicy(max_attempts=3, sleep=lambda s: None))
    assert [c.status for c in ee_service.calls("algorithms")] == [503, 200]


def test_the_client_library_retries_nothing_itself(tmp_path, ee_service):
    import ee

    initialize(key_config(ee_service.key), http_transport=ee_service)
    assert ee.data._get_state().max_retries == 0
