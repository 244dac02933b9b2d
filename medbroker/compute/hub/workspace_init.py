"""The first program of a workspace, inside its jail and as its own identity (uid 65534): it gives the home
folder JupyterLab's first settings and the platform's font, then becomes the JupyterLab server.

It runs as ``python -I -B workspace_init.py --fonts FOLDER -- jupyterhub-singleuser ...``. Done here and
not by the hub, because the home folder is the workspace's to write: a link left in it by an earlier session
leads nowhere this identity could not write anyway. Standard library only, no project code.

- JupyterLab in Korean (the language pack is installed with the platform), with no news or update checks,
  which would call the internet from the closed network; written once, the person may change them later.
- ``~/.jupyter/custom/custom.css`` and the fonts it names (``LabApp.custom_css``), served by the server
  itself: JupyterLab in the platform's Korean font (Pretendard GOV), which a closed-room PC may not have.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

LAB_SETTINGS = {
    "@jupyterlab/translation-extension/plugin.jupyterlab-settings": {"locale": "ko_KR"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
FONT_FILES = (("400", "PretendardGOV-Regular.subset.woff2"), ("700", "PretendardGOV-Bold.subset.woff2"))
# Important: the theme's own :root rules come after this file.
FONT_RULES = (
    ':root { --jp-ui-font-family: "Pretendard GOV", system-ui, sans-serif !important; '
    '--jp-content-font-family: "Pretendard GOV", system-ui, sans-serif !important; }'
)


def settings_write(home: str) -> None:
    for name, values in LAB_SETTINGS.items():
        path = os.path.join(home, ".jupyter", "lab", "user-settings", name)
        if os.path.lexists(path):
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(values, handle)


def fonts_write(home: str, fonts: str) -> None:
    if not fonts or not os.path.isdir(fonts):
        return
    custom = os.path.join(home, ".jupyter", "custom")
    os.makedirs(os.path.join(custom, "fonts"), exist_ok=True)
    faces = []
    for weight, name in FONT_FILES:
        target = os.path.join(custom, "fonts", name)
        if not os.path.exists(target):
            shutil.copyfile(os.path.join(fonts, name), target)
        faces.append(
            f'@font-face {{ font-family: "Pretendard GOV"; font-weight: {weight}; '
            f'src: url("fonts/{name}") format("woff2"); }}'
        )
    # Written at every start: the platform's file, brought up to date with it.
    with open(os.path.join(custom, "custom.css"), "w", encoding="utf-8") as handle:
        handle.write("\n".join([*faces, FONT_RULES]))


def main(argv: list[str]) -> int:
    if "--" not in argv:
        sys.stderr.write("workspace init: no command after --\n")
        return 2
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    fonts = options[options.index("--fonts") + 1] if "--fonts" in options else ""
    home = os.environ.get("HOME") or os.getcwd()
    try:
        settings_write(home)
        fonts_write(home, fonts)
    except OSError as error:
        # Settings and fonts make the workspace nicer, not possible: it starts without them.
        sys.stderr.write(f"workspace init: {error}\n")
    sys.stdout.flush()
    os.execv(command[0], command)  # noqa: S606 (the spawner's command, no shell)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
