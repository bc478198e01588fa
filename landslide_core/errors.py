"""Errors a user can act on.

Every error that reaches a person (CLI, dashboard) is a :class:`UserError`: its message says
what was wrong, and where possible the limit and what to do. Anything else is a bug.
"""
from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment, explained in plain words."""

    exit_code = 2
    #: Set by ``landslide_core.i18n.user_error``: the catalogue id of this message and its
    #: parameters, so the CLI and the dashboard can show it in the user's language.
    message_id: str | None = None
    message_params: dict = {}

    def __init__(self, what: str, fix: str | None = None):
        self.what = what
        self.fix = fix
        super().__init__(what if not fix else f"{what} {fix}")


class InputError(UserError):
    """Bad input data or parameters (rasters, AOIs, dates, thresholds)."""


class ModelError(UserError):
    """A missing, unreadable, tampered or incompatible model."""

    exit_code = 3


class SourceError(UserError):
    """An imagery source could not deliver (sign-in, no scenes, network)."""

    exit_code = 4


class Cancelled(UserError):
    """The user cancelled long work; what was finished is kept."""

    exit_code = 130

    def __init__(self, what: str = "Cancelled by the user.", fix: str | None = None):
        super().__init__(what, fix)
