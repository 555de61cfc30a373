"""`netcheck completion bash|zsh` and `netcheck man`: the scripts load in real shells and complete
netcheck's own subcommands and options; the man page renders without a roff warning."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netcheck.cli import build_parser
from tests.listen.helpers import REPO

SUBCOMMANDS = {"scan", "profiles", "validate", "schema", "cert", "report", "diff", "merge", "listen", "demo",
               "completion", "man"}


def netcheck(*args: str) -> str:
    run = subprocess.run([sys.executable, "-m", "netcheck", *args], capture_output=True, text=True, timeout=60,
                         cwd=REPO, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    return run.stdout


def scan_options(prefix: str) -> set[str]:
    """The scan sub-command's options starting with prefix, from the parser itself."""
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {option for action in commands.choices["scan"]._actions for option in action.option_strings
            if option.startswith(prefix)}


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (see .ci/apt-packages.txt)")
    return path


def bash_complete(script: Path, words: list[str]) -> set[str]:
    """What bash offers for the last word, by calling the registered completion function as bash would."""
    quoted = " ".join(f"'{word}'" for word in words)
    program = (f"source {script}\n"
               f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; "
               "COMP_POINT=${#COMP_LINE}\n"
               "function=$(complete -p netcheck | sed -E 's/.*-F ([^ ]+).*/\\1/')\n"
               "\"$function\" netcheck \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"\n"
               "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    run = subprocess.run([need("bash"), "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
                         timeout=30, cwd=script.parent)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    return {line.strip() for line in run.stdout.splitlines() if line.strip()}


def test_bash_completion_parses_and_completes_subcommands_and_options(tmp_path: Path) -> None:
    script = tmp_path / "netcheck.bash"
    script.write_text(netcheck("completion", "bash"))
    syntax = subprocess.run([need("bash"), "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 0, syntax.stderr
    assert bash_complete(script, ["netcheck", ""]) >= SUBCOMMANDS
    assert bash_complete(script, ["netcheck", "sc"]) == {"scan", "schema"}
    assert bash_complete(script, ["netcheck", "scan", "--pro"]) == {"--profile"}
    assert bash_complete(script, ["netcheck", "scan", "--no-"]) == scan_options("--no-") >= {"--no-progress"}
    assert bash_complete(script, ["netcheck", "cert", "c"]) == {"check", "convert", "csr"}
    assert bash_complete(script, ["netcheck", "completion", ""]) == {"bash", "zsh"}
    (tmp_path / "plant.yaml").write_text("")
    assert bash_complete(script, ["netcheck", "scan", "--profile", ""]) >= {"client", "console", "sensor",
                                                                             "plant.yaml"}
    assert bash_complete(script, ["netcheck", "scan", "--profile", "se"]) == {"sensor"}
    assert bash_complete(script, ["netcheck", "scan", "--site", "pl"]) == {"plant.yaml"}


# An interactive zsh on a pseudo-terminal (zpty): compinit, the script eval'ed as ~/.zshrc would,
# then TAB after the words; compadd is wrapped to print each candidate it is handed.
ZSH_COMPLETE = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT=''"
zpty -w z "autoload -Uz compinit && compinit -u -D"
zpty -w z "eval \"\$(<$1)\""
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a __hits
  builtin compadd -A __hits "$@"
  (( $#__hits )) || return
  local h; for h in $__hits; do echo -E - "CA""ND:$h"; done
}'
zpty -w z "bindkey '^I' complete-word"
zpty -w z "end-marker () { echo -E - 'END''MARK' }"
zpty -w z "comppostfuncs=( end-marker exit )"
zpty -n -w z "$2"$'\t'
local line
while zpty -r z line; do
  [[ $line == *ENDMARK* ]] && break
  [[ $line == *CAND:* ]] && print -r -- "${${line##*CAND:}%%$'\r'}"
done
zpty -d z
"""


def zsh_complete(script: Path, line: str) -> set[str]:
    driver = script.parent / "complete.zsh"
    driver.write_text(ZSH_COMPLETE)
    run = subprocess.run([need("zsh"), "-f", str(driver), str(script), line], capture_output=True, text=True,
                         timeout=30, cwd=script.parent, env={"PATH": "/usr/bin:/bin", "HOME": str(script.parent),
                                                             "TERM": "dumb"})
    assert run.returncode == 0, run.stderr
    return {word.strip() for word in run.stdout.splitlines() if word.strip()}


def test_zsh_completion_loads_registers_and_completes(tmp_path: Path) -> None:
    zsh = need("zsh")
    script = tmp_path / "_netcheck"
    script.write_text(netcheck("completion", "zsh"))
    syntax = subprocess.run([zsh, "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 0, syntax.stderr
    program = (f"autoload -Uz compinit && compinit -u -D\neval \"$(<{script})\"\n"
               "print -r -- \"comps=$_comps[netcheck]\"\n")
    run = subprocess.run([zsh, "-f", "-c", program], capture_output=True, text=True, timeout=30,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 0 and run.stderr == "" and run.stdout == "comps=_shtab_netcheck\n", run.stderr
    assert zsh_complete(script, "netcheck ") >= SUBCOMMANDS
    assert zsh_complete(script, "netcheck sc") == {"scan", "schema"}
    assert zsh_complete(script, "netcheck scan --pro") == {"--profile"}
    assert zsh_complete(script, "netcheck cert c") == {"check", "convert", "csr"}
    (tmp_path / "plant.yaml").write_text("")
    assert zsh_complete(script, "netcheck scan --profile se") == {"sensor"}
    assert {"client", "console", "sensor", "plant.yaml"} <= zsh_complete(script, "netcheck scan --profile ")


def test_the_man_page_renders_without_warnings_and_names_every_subcommand(tmp_path: Path) -> None:
    page = tmp_path / "netcheck.1"
    page.write_text(netcheck("man"))
    assert page.read_text().startswith(".TH NETCHECK \"1\"")
    # groff -ww: every warning; -z: format, print nothing but diagnostics
    groff = subprocess.run([need("groff"), "-man", "-ww", "-z", "-Tutf8", str(page)], capture_output=True,
                           text=True, timeout=30)
    assert groff.returncode == 0 and groff.stderr == "", groff.stderr
    shown = subprocess.run([need("man"), "-l", str(page)], capture_output=True, text=True, timeout=30,
                           env={"PATH": "/usr/bin:/bin", "MANPAGER": "cat", "MANWIDTH": "100", "LANG": "C.UTF-8"})
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    text = shown.stdout
    assert "netcheck - network and port readiness scanner" in text
    for command in SUBCOMMANDS:
        assert f"netcheck {command}" in text
    assert "--profile" in text and "Exit codes: 0" in text and "NETCHECK_LISTENER_KEY" in text
