"""Where weights come from: the embedded default, a local folder or file, or a Hugging Face Hub repo.

The Hub is reached only through ``huggingface_hub`` (so ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, ``HF_HOME``
and tokens work as everywhere else) and only for a repo id; the embedded default never touches the
network.
"""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path

from mtf_pose.weights import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, WeightsError

DEFAULT_WEIGHTS_PACKAGE = "mtf_pose.default_weights"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


def default_weights_dir() -> Path:
    """The weights folder shipped inside the package."""
    return Path(str(importlib.resources.files(DEFAULT_WEIGHTS_PACKAGE)))


def resolve_weights(
    source: str | Path | None = None,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """A local folder holding ``config.json`` and ``model.safetensors`` for ``source``.

    ``source``: ``None`` (the embedded default), a folder, a ``model.safetensors`` or ``config.json`` file
    inside a weights folder, or a Hub repo id such as ``"user/mdtf-tiny"`` (downloaded to the standard
    cache, or taken from it when offline).
    """
    if source is None:
        return default_weights_dir()
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        if path.name in (WEIGHTS_NAME, CONFIG_NAME) or path.suffix == ".safetensors":
            if not (path.parent / CONFIG_NAME).is_file():
                raise WeightsError(f"{path}: no {CONFIG_NAME} beside it; a weights folder holds both files")
            return path.parent
        raise WeightsError(f"{path}: not a weights file (expected a folder, {WEIGHTS_NAME} or {CONFIG_NAME})")
    text = str(source)
    if text.count("/") > 1 or text.startswith((".", "/", "~")) or not _REPO_ID.match(text):
        raise WeightsError(f"{text}: no such file or folder, and not a Hugging Face Hub repo id (user/name)")
    return download_weights(
        text, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token
    )


def download_weights(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """Fetch ``config.json``, ``model.safetensors`` (and the card, if any) of a Hub model repo."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    def fetch(filename: str) -> Path:
        return Path(
            hf_hub_download(
                repo_id, filename, revision=revision, cache_dir=cache_dir,
                local_files_only=local_files_only, token=token,
            )
        )

    where = f"{repo_id}" + (f"@{revision}" if revision else "")
    try:
        config = fetch(CONFIG_NAME)
        weights = fetch(WEIGHTS_NAME)
    except LocalEntryNotFoundError:  # before EntryNotFoundError, its base class
        raise WeightsError(
            f"{where}: not in the local cache and the Hub cannot be reached (offline: HF_HUB_OFFLINE or "
            "local_files_only). Download it once while online, or pass a local folder."
        ) from None
    except RepositoryNotFoundError:
        raise WeightsError(f"{where}: no such model repo on the Hub (or it is private: pass token=...)") from None
    except RevisionNotFoundError:
        raise WeightsError(f"{where}: the repo has no revision {revision!r}") from None
    except EntryNotFoundError:
        raise WeightsError(
            f"{where}: the repo lacks {CONFIG_NAME} or {WEIGHTS_NAME}; a weights repo needs both"
        ) from None
    except HfHubHTTPError as error:
        raise WeightsError(f"{where}: the Hub answered with an error: {error}") from None
    if config.parent != weights.parent:
        raise WeightsError(f"{where}: {CONFIG_NAME} and {WEIGHTS_NAME} resolved to different snapshots")
    try:
        fetch(CARD_NAME)
    except (EntryNotFoundError, HfHubHTTPError):  # the model card is optional
        pass
    return config.parent
