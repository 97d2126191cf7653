"""Locating the files maildesk ships beside its code: migrations/ and templates/.

In the repository they live at the top level (next to maildesk/); a wheel carries them as
package data inside the package (maildesk/migrations, maildesk/templates — see pyproject.toml's
package-dir mapping). importlib.resources finds the installed copy; a source checkout run with
PYTHONPATH or an editable install falls back to the top-level directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

NAMES = ("migrations", "templates")


def resource_dir(name: str) -> Path:
    """The directory holding `name` (one of NAMES) as a real filesystem path."""
    if name not in NAMES:
        raise ValueError(f"unknown resource directory {name!r}")
    installed = resources.files("maildesk").joinpath(name)
    # Jinja's FileSystemLoader and Alembic's script_location need a real directory; a wheel
    # installed by pip is unpacked, so the package's Traversable is a pathlib.Path.
    if isinstance(installed, Path) and installed.is_dir():
        return installed
    source = Path(__file__).resolve().parent.parent / name
    if source.is_dir():
        return source
    raise FileNotFoundError(f"maildesk's {name}/ directory is missing (looked in {installed} and {source})")
