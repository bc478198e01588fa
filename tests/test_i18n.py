"""Issue 12: one message catalogue in English and Spanish: complete, consistent, and every key
the code names exists."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from landslide_core import i18n
from landslide_core.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
#: Literal message ids in the code: t("key"), t_count("key", n), user_error(Cls, "key").
CALLS = re.compile(r"""\b(t|t_count|tr|tr_count|user_error)\(\s*(?:[A-Za-z_]+Error,\s*)?["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")


def _code_files():
    for folder in ("landslide_core", "dashboard", "pages"):
        yield from (ROOT / folder).rglob("*.py")
    yield ROOT / "app.py"


def test_every_message_has_both_languages_and_the_same_parameters():
    cat = i18n.catalogue()
    assert len(cat) > 100
    for key, texts in cat.items():
        assert set(texts) == set(i18n.LANGUAGES), key
        assert all(texts[lang].strip() for lang in i18n.LANGUAGES), key
        assert i18n.placeholders(texts["en"]) == i18n.placeholders(texts["es"]), key


def test_spanish_is_not_english_left_untranslated():
    same = [k for k, v in i18n.catalogue().items() if v["en"] == v["es"] and re.search(r"[a-z]{4,} [a-z]{4,}", v["en"])]
    assert not same, same


def test_every_key_the_code_names_is_in_the_catalogue():
    missing = []
    for path in _code_files():
        for fn, key in CALLS.findall(path.read_text(encoding="utf-8")):
            keys = {"t_count": [f"{key}.one", f"{key}.other"], "tr_count": [f"{key}.one", f"{key}.other"],
                    "user_error": [f"{key}.what"]}.get(fn, [key])
            missing += [f"{path.relative_to(ROOT)}: {k}" for k in keys if not i18n.has(k)]
    assert not missing, missing


def test_lookup_language_choice_and_errors(monkeypatch):
    assert i18n.t("report.title", "es") == "Informe de situación de deslizamientos"
    assert i18n.t("report.top.title", "en", count=3) == "The 3 largest new landslides"
    assert i18n.t_count("report.sentence", 1, "en", pre="a", post="b", new_ha="1.00").startswith("Between")
    monkeypatch.setenv("LANDSLIDE_LANG", "es_PE.UTF-8")
    assert i18n.current_language() == "es" and i18n.t("report.title").startswith("Informe")
    with i18n.use_language("en"):
        assert i18n.t("report.title") == "Landslide situation report"
    monkeypatch.setenv("LANDSLIDE_LANG", "fr")
    assert i18n.current_language() == "en"
    assert i18n.pick_language("es-PE,es;q=0.9,en;q=0.8") == "es"
    assert i18n.pick_language("fr-FR,en;q=0.5,es;q=0.4") == "en"
    assert i18n.pick_language("de-DE") is None and i18n.pick_language(None) is None
    exc = i18n.user_error(InputError, "errors.result_not_found", folder="/x")
    assert str(exc).startswith("There is no folder /x.") and exc.exit_code == 2
    assert i18n.localized(exc, "es").startswith("No existe la carpeta /x.")
    assert i18n.localized(InputError("plain"), "es") == "plain"
    monkeypatch.setenv("LANDSLIDE_I18N_STRICT", "1")
    with pytest.raises(KeyError):
        i18n.t("no.such.key")
    monkeypatch.delenv("LANDSLIDE_I18N_STRICT")
    assert i18n.t("no.such.key") == "⟦no.such.key⟧"


def test_a_malformed_catalogue_is_refused(tmp_path, monkeypatch):
    (tmp_path / "a.toml").write_text('[x]\nen = "one"\nes = "uno"\n')
    (tmp_path / "b.toml").write_text('[y]\nen = "two"\n')
    monkeypatch.setattr(i18n, "MESSAGES_DIR", tmp_path)
    i18n.catalogue.cache_clear()
    try:
        assert i18n.catalogue()["a.x"] == {"en": "one", "es": "uno"}
        assert i18n.catalogue()["b.y"] == {"en": "two"}  # caught by the completeness test above
        (tmp_path / "c.toml").write_text("[z]\nen = 3\n")
        i18n.catalogue.cache_clear()
        with pytest.raises(i18n.CatalogueError):
            i18n.catalogue()
    finally:
        i18n.catalogue.cache_clear()


def test_the_command_line_speaks_spanish(monkeypatch, capsys, tmp_path):
    from landslide_core.cli import main

    monkeypatch.setenv("LANDSLIDE_LANG", "es")
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "Monitor de deslizamientos" in out and "el informe de situación de un análisis terminado" in out
    assert main(["detect", "--out", str(tmp_path / "o")]) == 2
    assert "error: Indique --image" in capsys.readouterr().err
    monkeypatch.setenv("LANDSLIDE_LANG", "en")
    assert main(["detect", "--out", str(tmp_path / "o")]) == 2
    assert "error: Give either --image" in capsys.readouterr().err


@pytest.mark.parametrize("problems", [[], ["The file /x/key.json is not JSON (damaged?)."]])
def test_earth_engine_not_signed_in_is_said_in_spanish_on_the_pages(monkeypatch, problems):
    """The message every new user sees first (Home, Monitor): the core's English text, unchanged,
    and the same through the catalogue in Spanish on the pages."""
    from dashboard import ui
    from landslide_core.sources import ee_signin
    from landslide_core.sources.ee_auth import HOW_TO_PROJECT, HOW_TO_SIGN_IN, AuthConfig

    r = ee_signin.self_test(AuthConfig(problems=list(problems)), connect=False)
    found = (" Problems found: " + " ".join(problems)) if problems else ""
    assert not r.ready and r.message == (
        "Earth Engine: not signed in. No service-account key (env EE_SERVICE_ACCOUNT_KEY or "
        ".streamlit/secrets.toml), no stored credentials from `earthengine authenticate`, no application "
        f"default credentials and no cloud machine account were found.{found} To fix it, {HOW_TO_SIGN_IN} "
        f"Then {HOW_TO_PROJECT}")
    assert r.text("en") == r.message
    spanish = r.text("es")
    assert spanish.startswith("Earth Engine: sin iniciar sesión.") and "not signed in" not in spanish
    for word in ("EE_SERVICE_ACCOUNT_KEY", "GOOGLE_APPLICATION_CREDENTIALS", "EE_PROJECT", *problems):
        assert word in spanish, word
    # What the pages show: the session's language (here LANDSLIDE_LANG, as with no browser).
    monkeypatch.setenv("LANDSLIDE_LANG", "es")
    assert ui._shown(r) == (False, spanish)
    monkeypatch.setenv("LANDSLIDE_LANG", "en")
    assert ui._shown(r) == (False, r.message)


def test_sources_command_speaks_spanish(monkeypatch, capsys, tmp_path):
    from landslide_core.cli import main

    for var in ("EE_SERVICE_ACCOUNT_KEY", "EE_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LANDSLIDE_LANG", "es")
    assert main(["sources", "--offline"]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())
    assert out.startswith("Fuentes de imágenes:")
    lines = out.splitlines()
    assert any(line.split()[:3] == ["earthengine", "NO", "LISTA"] for line in lines)
    assert any(line.split()[:2] == ["demo", "lista"] for line in lines)
    assert "sin iniciar sesión" in flat and "Demostración: lista" in flat and "Archivos locales: listos" in flat
    for english in ("ready", "READY", "not signed in", "Synthetic scenes", "needs your files"):
        assert english not in flat, english
    monkeypatch.setenv("LANDSLIDE_LANG", "en")  # --json stays as the core writes it (English)
    assert main(["sources", "--offline", "--json"]) == 0
    assert "not signed in" in capsys.readouterr().out
