"""`netcheck completion bash|zsh` and `netcheck man`: generated from the argparse definitions at run time,
so they ship inside the executable and never drift from `--help`.

shtab writes the completion scripts; argparse-manpage writes the roff man page. Both load only when asked.
"""

from __future__ import annotations

import argparse
import re
import sys
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

    script: str = shtab.complete(_parser(), shell=shell)
    return script if script.endswith("\n") else script + "\n"


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
