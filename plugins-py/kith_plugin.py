"""Helpers for kith plugins written in Python: what the Rust SDK (plugins/sdk) gives Rust plugins.

`kith new plugin --lang python` writes this file beside app.py; scripts/build-plugins adds
plugins-py/ to the Python path of each plugin of plugins-py/ it builds.
"""

import functools
import traceback

from componentize_py_types import Err
from wit_world.imports import log
from wit_world.imports.types import CallContext


def config(ctx: CallContext, key: str, default: str) -> str:
    """A value of the plugin's config (plugin.toml `[config]`, `kith install plugin --config`)."""
    return next((value for name, value in ctx.config if name == key), default)


def config_list(ctx: CallContext, key: str, default: str = "") -> list[str]:
    """A comma-separated config value as a list of stripped, non-empty items."""
    return [item.strip() for item in config(ctx, key, default).split(",") if item.strip()]


def reported(method):
    """Wraps an exported method so that an unexpected exception (a bug, not a refusal) reaches
    kith with its message and place. A component built with --stub-wasi has no stderr, so
    without this the call ends as "aborted without a message"; kith reads the `panic: ` log
    line as the fault's message. `Err` (a refusal) passes unchanged."""

    @functools.wraps(method)
    def call(*args):
        try:
            return method(*args)
        except Err:
            raise
        except Exception as e:
            frame = traceback.extract_tb(e.__traceback__)[-1]
            log.log(
                log.Level.ERROR,
                f"panic: {type(e).__name__}: {e} at {frame.filename}:{frame.lineno}",
            )
            raise

    return call
