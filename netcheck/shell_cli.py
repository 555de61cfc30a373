"""`netcheck completion bash|zsh` and `netcheck man`: generated from the argparse definitions at run time,
so they ship inside the executable and never drift from `--help`.

shtab writes the completion scripts; argparse-manpage writes the roff man page. Both load only when asked.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh")
SUMMARY = "network and port readiness scanner for OT security appliances"
# What the option list cannot say: the environment netcheck reads.
EXTRA_SECTIONS = r""".SH ENVIRONMENT
.TP
.B NETCHECK_LISTENER_KEY
shared key (16+ characters) of \fBnetcheck listen\fR and \fBnetcheck scan \-\-listener\fR;
set it on both sides so only netcheck can confirm a flow
.TP
.B NO_COLOR
no colour in the terminal table
.TP
.B TMPDIR
where the self-contained executable unpacks itself at each start
.PP
Secrets (LDAP password, SNMP community and keys, proxy password, key passphrases) are read only
from the environment variables a site file or an option names (\fBpassword_env\fR, \fB\-\-pass\-env\fR).
.SH SEE ALSO
\fBnetcheck completion bash|zsh\fR for shell completion; the README of the project.
"""


def add_parser(commands: Any) -> None:
    completion = commands.add_parser(
        "completion", help="print a shell completion script (bash, zsh)",
        description="Print the completion script of a shell, generated from netcheck's own options. "
                    "bash: eval \"$(netcheck completion bash)\" in ~/.bashrc, or save it as "
                    "/etc/bash_completion.d/netcheck. zsh: save it as _netcheck in a folder of $fpath.")
    completion.add_argument("shell", choices=SHELLS)
    completion.set_defaults(func=cmd_completion)
    man = commands.add_parser(
        "man", help="print the manual page (roff)",
        description="Print netcheck's manual page in roff: read it with 'netcheck man | man -l -', or install "
                    "it with 'netcheck man > /usr/local/share/man/man1/netcheck.1'.")
    man.set_defaults(func=cmd_man)


def _parser() -> argparse.ArgumentParser:
    from netcheck.cli import build_parser

    return build_parser()


def completion_script(shell: str) -> str:
    import shtab

    from netcheck.profiles import builtin_profiles

    names = " ".join(builtin_profiles())
    # --profile: a built-in name or a YAML file; other path arguments: files (folders for --split).
    preamble = {
        "bash": f'_netcheck_profile_names() {{ compgen -W "{names}" -- "$1"; compgen -f -- "$1"; }}\n',
        "zsh": f"_netcheck_profile_names() {{ _alternative 'profiles:built-in profile:({names})' "
               "'files:profile file:_files -g \"*.y(a|)ml\"'; }\n",
    }[shell]
    parser = _parser()
    profile_names = {"bash": "_netcheck_profile_names", "zsh": "_netcheck_profile_names"}
    for action in _all_actions(parser):
        hint: Any = None
        if action.dest == "profile":
            hint = profile_names
        elif action.type is Path or action.dest in ("receipt", "output", "out"):
            hint = shtab.DIRECTORY if action.dest == "split" else shtab.FILE
        if hint:
            vars(action)["complete"] = hint  # shtab's hint attribute, unknown to argparse's types
    script: str = shtab.complete(parser, shell=shell, preamble=preamble)
    return script if script.endswith("\n") else script + "\n"


def _all_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    found = []
    for action in parser._actions:
        found.append(action)
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                found.extend(_all_actions(sub))
    return found


def man_page() -> str:
    from argparse_manpage.manpage import Manpage

    from netcheck import __version__

    page = Manpage(_parser())
    page.source = f"netcheck {__version__}"
    page.manual = "netcheck manual"
    page.description = SUMMARY
    # Help texts quoting a command ('netcheck cert ...') would start a line with the roff
    # no-break control character: \& makes such a line plain text.
    return re.sub(r"^'", r"\\&'", str(page), flags=re.MULTILINE) + EXTRA_SECTIONS


def cmd_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(completion_script(args.shell))
    return 0


def cmd_man(args: argparse.Namespace) -> int:
    sys.stdout.write(man_page())
    return 0
