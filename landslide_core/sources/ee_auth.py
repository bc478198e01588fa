"""Earth Engine sign-in configuration: which credentials and Cloud project, found without any
network call, with plain words for what is missing.

Every sign-in method ``ee.Initialize`` accepts is found, first found wins:

1. ``service_account``: a service-account JSON key, path in env ``EE_SERVICE_ACCOUNT_KEY`` or in
   the Streamlit secrets file (``.streamlit/secrets.toml`` here or in the home folder) as
   ``EE_SERVICE_ACCOUNT_KEY = "/path/key.json"``, or the key itself there as an
   ``[ee_service_account]`` table or an ``EE_SERVICE_ACCOUNT_JSON`` string;
2. ``user``: the stored sign-in of ``earthengine authenticate``
   (``~/.config/earthengine/credentials``);
3. ``adc``: Google Application Default Credentials: the file named by
   ``GOOGLE_APPLICATION_CREDENTIALS`` (a service-account key, workload identity federation...),
   or the one ``gcloud auth application-default login`` writes
   (``~/.config/gcloud/application_default_credentials.json``, or under ``CLOUDSDK_CONFIG``);
4. ``vm``: the service account of the cloud machine this runs on (Compute Engine, Cloud Run,
   GKE: its metadata server), detected locally (``GCE_METADATA_HOST``, ``K_SERVICE``, or the
   machine's DMI product name).

The Cloud project id (registered for Earth Engine) comes from env ``EE_PROJECT``, the secrets
file (``EE_PROJECT``), the stored credentials (``project``), the ADC file
(``quota_project_id``), the key's ``project_id``, or env ``GOOGLE_CLOUD_PROJECT``.

Secrets never reach a message: keys are checked here field by field and the private key is
parsed with every exception's text dropped; :class:`AuthConfig` keeps the secret material out
of its ``repr`` and lists it (:meth:`AuthConfig.secret_strings`) so that sign-in messages can be
checked against it (:mod:`.ee_signin`). ``ee`` is not imported here.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

KEY_ENV = "EE_SERVICE_ACCOUNT_KEY"
PROJECT_ENV = "EE_PROJECT"
SECRETS_TABLE = "ee_service_account"
SECRETS_JSON = "EE_SERVICE_ACCOUNT_JSON"
ADC_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
CLOUD_PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"

#: Sign-in methods, in the order they are looked for, and how each is named to a person.
METHODS = {
    "service_account": "a service-account key",
    "user": "your Earth Engine sign-in (`earthengine authenticate`)",
    "adc": "Google Application Default Credentials",
    "vm": "this cloud machine's service account",
}
#: Fields a service-account key must have (google-auth needs all three).
KEY_FIELDS = ("client_email", "private_key", "token_uri")
#: Fields that are secret wherever they appear.
SECRET_FIELDS = ("private_key", "private_key_id", "refresh_token", "client_secret")
#: ADC file types google-auth can load.
ADC_TYPES = ("service_account", "authorized_user", "external_account", "impersonated_service_account",
             "external_account_authorized_user", "gdch_service_account")

HOW_TO_SIGN_IN = (
    f"sign in one of these ways: set {KEY_ENV}=/path/to/service-account-key.json (or put it in "
    ".streamlit/secrets.toml); or run `earthengine authenticate` once on this machine; or "
    f"`gcloud auth application-default login` (or {ADC_ENV}=/path/to/credentials.json); or run on a "
    "cloud machine whose service account may use Earth Engine."
)
HOW_TO_PROJECT = (
    f"set {PROJECT_ENV}=<your Google Cloud project id> (environment or .streamlit/secrets.toml); "
    "the project must be registered for Earth Engine (https://code.earthengine.google.com/register)."
)
NEW_KEY = ("Download a new JSON key for the service account (Google Cloud console > IAM > Service "
           "accounts > Keys > Add key) and point to it.")


@dataclass
class AuthConfig:
    """Where sign-in and project come from, or what is missing. Secrets stay out of ``repr``."""

    kind: Optional[str] = None  # "service_account" | "user" | "adc" | "vm" | None
    key_path: Optional[Path] = None
    key_info: Optional[dict] = field(default=None, repr=False)  # the parsed service-account key
    user_credentials_path: Optional[Path] = None
    user_info: Optional[dict] = field(default=None, repr=False)  # the stored `earthengine authenticate` file
    adc_path: Optional[Path] = None
    adc_from: Optional[str] = None  # how the ADC file was found
    adc_info: Optional[dict] = field(default=None, repr=False)
    vm_from: Optional[str] = None  # how the cloud machine was detected
    project: Optional[str] = None
    project_from: Optional[str] = None
    problems: list[str] = field(default_factory=list)

    @property
    def method(self) -> str:
        """The sign-in method in a few words ("a service-account key", ...)."""
        return METHODS.get(self.kind or "", "nothing")

    @property
    def description(self) -> str:
        """Which sign-in is used, with where it comes from."""
        if self.kind == "service_account":
            where = str(self.key_path) if self.key_path else "Streamlit secrets"
            return f"a service-account key for {_email(self.key_info)} (from {where})"
        if self.kind == "user":
            return f"your Earth Engine sign-in from `earthengine authenticate` ({self.user_credentials_path})"
        if self.kind == "adc":
            kind = (self.adc_info or {}).get("type", "?")
            who = f" for {_email(self.adc_info)}" if kind == "service_account" else ""
            return (f"Google Application Default Credentials ({kind.replace('_', ' ')}{who}; "
                    f"{self.adc_from}: {self.adc_path})")
        if self.kind == "vm":
            return f"this cloud machine's service account (metadata server; {self.vm_from})"
        return "nothing"

    def ident(self) -> str:
        """A string naming this configuration (no secrets), to tell sign-ins apart."""
        who = self.key_path or _email(self.key_info) or self.user_credentials_path or self.adc_path or self.vm_from
        return f"{self.kind}:{who}:{self.project}"

    def secret_strings(self) -> list[str]:
        """Every secret value this configuration holds (keys, tokens), to keep out of messages."""
        out = []
        for info in (self.key_info, self.user_info, self.adc_info):
            for k in SECRET_FIELDS:
                v = (info or {}).get(k)
                if isinstance(v, str) and v:
                    out.append(v)
        return out


def _email(info: Optional[dict]) -> str:
    v = (info or {}).get("client_email")
    return v if isinstance(v, str) and "@" in v and len(v) < 200 else "?"


def default_secrets_paths() -> list[Path]:
    return [Path.cwd() / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"]


def default_user_credentials_path() -> Path:
    return Path.home() / ".config" / "earthengine" / "credentials"


def default_gcloud_adc_path(env: Mapping[str, str]) -> Path:
    root = env.get("CLOUDSDK_CONFIG")
    base = Path(root).expanduser() if root else Path.home() / ".config" / "gcloud"
    return base / "application_default_credentials.json"


def detect_cloud_vm(env: Mapping[str, str]) -> Optional[str]:
    """How this machine is known to have a metadata server (no network), or None."""
    if env.get("GCE_METADATA_HOST") or env.get("GCE_METADATA_IP"):
        return "GCE_METADATA_HOST is set"
    if env.get("K_SERVICE") or env.get("CLOUD_RUN_JOB"):
        return "running on Cloud Run"
    try:
        product = Path("/sys/class/dmi/id/product_name").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return "a Google Compute Engine machine" if product.startswith("Google") else None


def read_secrets(paths: Optional[list[Path]] = None) -> tuple[dict, Optional[Path], list[str]]:
    """The merged TOML secrets (first file wins per key), the first file read, and problems."""
    import tomllib

    merged: dict[str, Any] = {}
    first, problems = None, []
    for p in paths if paths is not None else default_secrets_paths():
        if not p.is_file():
            continue
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError:
            # The decoder's message can quote the line, and the file holds secrets: say where only.
            problems.append(f"{p} is not valid TOML; fix or remove it.")
            continue
        except (OSError, UnicodeDecodeError):
            problems.append(f"{p} cannot be read; fix its permissions or remove it.")
            continue
        first = first or p
        for k, v in data.items():
            merged.setdefault(k, v)
    return merged, first, problems


def check_service_account_key(info: Any, where: str, problems: list[str]) -> Optional[dict]:
    """The key if it is a usable service-account key, else None with a problem that names the
    lacking or damaged fields (never their values)."""
    if not isinstance(info, dict):
        problems.append(f"The service-account key {where} is not a JSON object. {NEW_KEY}")
        return None
    if info.get("type") not in (None, "service_account"):
        kind = info.get("type") if isinstance(info.get("type"), str) and len(info["type"]) < 40 else "?"
        problems.append(f"The file {where} is not a service-account key (its type is '{kind}'). Use "
                        "the JSON key of a service account, not an OAuth client file.")
        return None
    lacking = [k for k in KEY_FIELDS if not (isinstance(info.get(k), str) and info.get(k).strip())]
    if "client_email" in lacking and "private_key" in lacking:
        problems.append(f"The file {where} is not a service-account key (it lacks {', '.join(lacking)}). "
                        "Use the JSON key of a service account, not an OAuth client file.")
        return None
    if lacking:
        extra = (" Add token_uri = \"https://oauth2.googleapis.com/token\" (every Google key has it), "
                 "or " + NEW_KEY[0].lower() + NEW_KEY[1:]) if lacking == ["token_uri"] else " " + NEW_KEY
        problems.append(f"The service-account key {where} lacks {', '.join(lacking)}.{extra}")
        return None
    if not private_key_readable(info):
        problems.append(f"The private_key of the service-account key {where} cannot be read (it is "
                        f"damaged or cut short). {NEW_KEY}")
        return None
    return info


def private_key_readable(info: dict) -> bool:
    """Whether google-auth can load the key's private key (every exception text is dropped:
    it may quote the key)."""
    try:
        from google.auth import crypt

        crypt.RSASigner.from_service_account_info(info)
    except Exception:  # noqa: BLE001 - any failure means "unreadable"; its text may hold the key
        return False
    return True


def _load_json_file(path: Path, what: str, problems: list[str]) -> Optional[Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        problems.append(f"The {what} {path} cannot be read; check its permissions.")
    except json.JSONDecodeError:
        problems.append(f"The {what} {path} is not JSON (damaged?).")
    return None


def _find_service_account(env, secrets, secrets_file, cfg: AuthConfig) -> None:
    key_path = env.get(KEY_ENV) or (secrets.get(KEY_ENV) if isinstance(secrets.get(KEY_ENV), str) else None)
    if key_path:
        origin = f"(from {KEY_ENV} in the environment)" if env.get(KEY_ENV) else f"(from {secrets_file})"
        path = Path(key_path).expanduser()
        if not path.is_file():
            cfg.problems.append(f"The service-account key file {path} {origin} does not exist. "
                                f"Fix the path in {KEY_ENV}.")
            return
        raw = _load_json_file(path, "service-account key", cfg.problems)
        info = check_service_account_key(raw, str(path), cfg.problems) if raw is not None else None
        if info:
            cfg.kind, cfg.key_path, cfg.key_info = "service_account", path, info
    elif isinstance(secrets.get(SECRETS_TABLE), dict):
        info = check_service_account_key(dict(secrets[SECRETS_TABLE]), f"[{SECRETS_TABLE}] in {secrets_file}",
                                         cfg.problems)
        if info:
            cfg.kind, cfg.key_info = "service_account", info
    elif isinstance(secrets.get(SECRETS_JSON), str):
        where = f"{SECRETS_JSON} in {secrets_file}"
        try:
            raw = json.loads(secrets[SECRETS_JSON])
        except json.JSONDecodeError:
            cfg.problems.append(f"The service-account key {where} is not JSON. {NEW_KEY}")
            return
        info = check_service_account_key(raw, where, cfg.problems)
        if info:
            cfg.kind, cfg.key_info = "service_account", info


def _find_user(user_path: Path, cfg: AuthConfig) -> dict:
    if not user_path.is_file():
        return {}
    stored = _load_json_file(user_path, "stored Earth Engine credentials", cfg.problems)
    if not isinstance(stored, dict):
        cfg.problems.append("Run `earthengine authenticate` again.")
        return {}
    if cfg.kind is None and isinstance(stored.get("refresh_token"), str) and stored["refresh_token"]:
        cfg.kind, cfg.user_credentials_path, cfg.user_info = "user", user_path, stored
    elif cfg.kind is None:
        cfg.problems.append(f"The stored credentials {user_path} hold no refresh token. "
                            "Run `earthengine authenticate` again.")
    return stored


def _find_adc(env, adc_path: Optional[Path], cfg: AuthConfig) -> None:
    if env.get(ADC_ENV):
        path, origin = Path(env[ADC_ENV]).expanduser(), ADC_ENV
        if not path.is_file():
            cfg.problems.append(f"{ADC_ENV} points to {path}, which does not exist. Fix or unset it.")
            return
    else:
        path = adc_path if adc_path is not None else default_gcloud_adc_path(env)
        origin = "`gcloud auth application-default login`"
        if not path.is_file():
            return
    info = _load_json_file(path, "application default credentials", cfg.problems)
    if not isinstance(info, dict) or info.get("type") not in ADC_TYPES:
        cfg.problems.append(f"The application default credentials {path} ({origin}) are not a credentials "
                            "file Google's libraries know. Run `gcloud auth application-default login` again.")
        return
    if info["type"] == "service_account" and check_service_account_key(info, str(path), cfg.problems) is None:
        return
    if info["type"] == "authorized_user" and not all(isinstance(info.get(k), str) and info[k] for k in
                                                     ("refresh_token", "client_id", "client_secret")):
        cfg.problems.append(f"The application default credentials {path} lack refresh_token, client_id or "
                            "client_secret. Run `gcloud auth application-default login` again.")
        return
    cfg.kind, cfg.adc_path, cfg.adc_from, cfg.adc_info = "adc", path, origin, info


def find_config(env: Optional[Mapping[str, str]] = None, secrets_paths: Optional[list[Path]] = None,
                user_credentials_path: Optional[Path] = None, adc_path: Optional[Path] = None,
                cloud_vm: Optional[Callable[[Mapping[str, str]], Optional[str]]] = None) -> AuthConfig:
    """Look (without any network call) for credentials and a project.

    ``adc_path`` replaces the gcloud ADC file location and ``cloud_vm`` the machine check
    (tests); ``GOOGLE_APPLICATION_CREDENTIALS`` in ``env`` still wins over ``adc_path``.
    """
    env = os.environ if env is None else env
    cfg = AuthConfig()
    secrets, secrets_file, cfg.problems = read_secrets(secrets_paths)
    n_problems = len(cfg.problems)
    _find_service_account(env, secrets, secrets_file, cfg)
    # A key that is configured but unusable is reported, not silently passed over for another sign-in.
    key_broken = cfg.kind is None and len(cfg.problems) > n_problems
    user_path = user_credentials_path or default_user_credentials_path()
    stored = _find_user(user_path, cfg) if not key_broken else {}
    if cfg.kind is None and not key_broken:
        _find_adc(env, adc_path, cfg)
    if cfg.kind is None and not key_broken:
        found = (cloud_vm or detect_cloud_vm)(env)
        if found:
            cfg.kind, cfg.vm_from = "vm", found

    for value, where in ((env.get(PROJECT_ENV), f"{PROJECT_ENV} in the environment"),
                         (secrets.get(PROJECT_ENV), f"{PROJECT_ENV} in {secrets_file}"),
                         (stored.get("project") if cfg.kind == "user" else None, str(user_path)),
                         ((cfg.adc_info or {}).get("quota_project_id"), f"quota_project_id in {cfg.adc_path}"),
                         ((cfg.key_info or cfg.adc_info or {}).get("project_id"), "the service-account key"),
                         (env.get(CLOUD_PROJECT_ENV) if cfg.kind in ("adc", "vm") else None,
                          f"{CLOUD_PROJECT_ENV} in the environment")):
        if isinstance(value, str) and value.strip():
            cfg.project, cfg.project_from = value.strip(), where
            break
    return cfg


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]
