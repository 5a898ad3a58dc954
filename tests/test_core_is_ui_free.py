"""The core never imports Textual or Rich: only `controlroom.app` and `controlroom.widgets` may.

Imports every core module in a fresh interpreter and looks at sys.modules, so a
UI import hiding three modules deep is caught too.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import controlroom

UI_PACKAGES = ("controlroom.app", "controlroom.widgets")
NOT_IMPORTABLE = ("controlroom.__main__",)  # runs the CLI on import

PROBE = """
import importlib, json, sys
names = json.loads(sys.argv[1])
errors = {}
for name in names:
    try:
        importlib.import_module(name)
    except Exception as err:
        errors[name] = f"{type(err).__name__}: {err}"
ui = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
print(json.dumps({"ui": ui[:20], "errors": errors}))
"""


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(controlroom.__path__, "controlroom."):
        if info.name.startswith(UI_PACKAGES) or info.name in NOT_IMPORTABLE:
            continue
        names.append(info.name)
    return sorted(names)


def test_core_modules_are_found() -> None:
    names = core_modules()
    assert "controlroom.viewstate" in names and "controlroom.engine.session" in names
    assert not any(n.startswith("controlroom.app") for n in names)


def test_no_core_module_imports_textual_or_rich() -> None:
    names = core_modules()
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(names)], capture_output=True, text=True,
                         timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}, f"core modules failed to import: {result['errors']}"
    assert result["ui"] == [], f"a core module pulled in UI libraries: {result['ui']}"


def test_the_ui_free_pieces_of_the_app_package_stay_ui_free() -> None:
    # feeds, keymap and fixtures are what watch/replay/report reuse without a terminal.
    names = ["controlroom.app.feeds", "controlroom.app.keymap", "controlroom.app.fixtures", "controlroom.app.entry"]
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(names)], capture_output=True, text=True,
                         timeout=60, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == {} and result["ui"] == []
