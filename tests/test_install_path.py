"""`make install` as the README's IT section says it, run in a staging root: printstation on
the PATH, its man page and completion, `make uninstall` undoing it; and DESTDIR for
packaging.

The README's commands are read from the README itself, so a command added there without a
way to check it here fails this test. Each command is run as written, with the staging
root added: `make install` gets `--root ROOT --no-venv` (a venv is `pip install`, tested
by tests/test_install.py), `printstation` is the staged link's target (a stand-in that
runs this checkout's command), `systemctl` gets `--root=ROOT`, `man` reads the staged
page, `make uninstall` gets `DESTDIR=ROOT`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

from printstation.harness.kit import EXE, ROOT

LINK_TARGET = "/opt/printstation/bin/printstation"
ENV = {k: v for k, v in os.environ.items() if k != "PRINTSTATION_CONFIG"}


def it_section() -> list[str]:
    """The shell commands of the README's "Running it as a service (for IT)" block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Running it as a service (for IT)", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the IT section has no sh block"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def run(cmd: list[str] | str, **kwargs: object) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT,
                            env=kwargs.pop("env", ENV), shell=isinstance(cmd, str), **kwargs)
    assert result.returncode == 0, (cmd, result.stdout, result.stderr)
    return result


def staged_link(root: Path, prefix: str = "/usr/local") -> Path:
    """The command `printstation` as the staged PATH finds it: the link, followed inside
    the staging root."""
    link = root / prefix.lstrip("/") / "bin" / "printstation"
    assert link.is_symlink() and os.readlink(link) == LINK_TARGET
    return root / LINK_TARGET.lstrip("/")


def stand_in(root: Path) -> None:
    """What the venv would hold: a `printstation` that runs this checkout's."""
    exe = root / LINK_TARGET.lstrip("/")
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(f"#!/bin/sh\nexec {shlex.quote(str(EXE))} \"$@\"\n")
    exe.chmod(0o755)


def complete(script: Path, *words: str) -> list[str]:
    quoted = " ".join(shlex.quote(w) for w in words)
    out = run(["bash", "--norc", "-c", f'source "{script}"; COMP_WORDS=({quoted}); '
               'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _printstation; '
               'printf "%s\\n" "${COMPREPLY[@]}"']).stdout
    return [w for w in out.splitlines() if w]


def test_the_readme_it_commands_in_a_staging_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    man_page = root / "usr/local/share/man/man1/printstation.1"
    completion = root / "usr/local/share/bash-completion/completions/printstation"
    done = []
    for line in it_section():
        words = shlex.split(line.split("&&")[0])
        if words[:2] == ["make", "install"]:
            run([*words, f"INSTALL_FLAGS=--root {root} --no-venv"])
            stand_in(root)
            assert man_page.is_file() and completion.is_file()
            assert (root / "etc/printstation/printstation.toml").is_file()
        elif words[0] == "vi":
            # IT edits the station id and printers; the shipped example is already valid.
            assert (root / words[1].lstrip("/")).is_file()
        elif words[0] == "printstation":
            config = root / "etc/printstation/printstation.toml"
            result = run([staged_link(root), *words[1:]],
                         env={**ENV, "PRINTSTATION_CONFIG": str(config)})
            assert result.stdout.strip() == "OK"
            then = shlex.split(line.split("&&")[1])
            assert then[:2] == ["systemctl", "enable"]
            run(["systemctl", f"--root={root}", "enable",
                 *[w for w in then[2:] if w != "--now"]])
            wants = root / "etc/systemd/system/multi-user.target.wants/printstation.service"
            assert wants.is_symlink()
        elif words[0] == "man":
            page = run(["man", "--warnings", "-l", man_page],
                       env={**ENV, "LANG": "C.UTF-8", "MANWIDTH": "100"})
            assert page.stdout.startswith("PRINTSTATION(1)") and not page.stderr
            assert "calibrate" in page.stdout and "EXIT STATUS" in page.stdout
            assert "check-config" in complete(completion, "printstation", "che")
            assert complete(completion, "printstation", "paper", "") == ["load", "show", "spoil"]
        elif words[:2] == ["make", "uninstall"]:
            run([*words, f"DESTDIR={root}"])
            for gone in (root / "usr/local/bin/printstation", man_page, completion,
                         root / "etc/systemd/system/printstation.service",
                         root / "opt/printstation"):
                assert not gone.exists() and not gone.is_symlink(), gone
            assert (root / "etc/printstation/printstation.toml").is_file()  # config kept
            assert (root / "var/lib/printstation").is_dir()  # data kept
        else:
            raise AssertionError(f"README IT command this test cannot check: {line}")
        done.append(words[0] if words[0] != "make" else " ".join(words[:2]))
    assert done == ["make install", "vi", "printstation", "man", "make uninstall"]


def test_destdir_stages_files_only_and_uninstall_reverses_it(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    out = run(["make", "-s", "install", f"DESTDIR={pkg}", "PREFIX=/usr",
               "INSTALL_FLAGS=--no-venv"]).stdout
    assert "for packaging" in out
    staged_link(pkg, "/usr")
    for path in ("usr/share/man/man1/printstation.1",
                 "usr/share/bash-completion/completions/printstation",
                 "etc/systemd/system/printstation.service",
                 "usr/lib/sysusers.d/printstation.conf", "usr/lib/tmpfiles.d/printstation.conf",
                 "etc/printstation/printstation.toml"):
        assert (pkg / path).is_file(), path
    # No user and no folders: the package's own scripts make them on the target.
    assert not (pkg / "etc/passwd").exists() and not (pkg / "var").exists()
    assert not (pkg / "usr/local").exists()
    run(["make", "-s", "uninstall", f"DESTDIR={pkg}", "PREFIX=/usr"])
    assert not (pkg / "usr/bin/printstation").is_symlink()
    assert not (pkg / "usr/share/man/man1/printstation.1").exists()


def test_install_and_uninstall_leave_a_printstation_that_is_not_theirs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    other = root / "usr/local/bin/printstation"
    other.parent.mkdir(parents=True)
    other.write_text("#!/bin/sh\necho mine\n")
    refused = subprocess.run(["bash", ROOT / "scripts/install", "--root", root, "--no-venv"],
                             capture_output=True, text=True, cwd=ROOT, env=ENV)
    assert refused.returncode == 1 and "not our link" in refused.stderr
    assert other.read_text() == "#!/bin/sh\necho mine\n"
    run(["bash", ROOT / "scripts/uninstall", "--root", root])
    assert other.read_text() == "#!/bin/sh\necho mine\n"
