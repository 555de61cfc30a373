"""The terminal matrix: one row per flow, status in words (and color when there is a TTY).

Every line fits the width it is given. When the full table (status, flow and purpose, protocol,
port, source -> destination, reason, ms, detail) does not fit, the compact layout shows status,
flow, port, peer and reason, with the detail on its own wrapped line under each row.
The summary view puts counts by status and reason, and by peer, first, then lists only the
flows that did not pass.

Tables are laid out here, not by rich: fixed-width columns sized from their content, so a
50,000-row report costs one pass over the rows. Every text from a report goes through
`terminal_text` (the one sanitiser); colour is plain ANSI SGR, only when asked for.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from netcheck.escape import terminal_text
from netcheck.gcpause import collector_paused
from netcheck.model import REASON_TEXT, Direction, Reason, Report, Result, Status
from netcheck.render.views import STATUS_RANK, WORD, grouped_by_peer

FULL, SUMMARY = "all", "summary"
PIPE_WIDTH = 160  # a pipe without COLUMNS gets this fixed width (documented in the README)
NARROWEST = 40  # narrower widths are treated as this (every table still fits, if squeezed)

STATUS_STYLE = {
    Status.PASS: "1;32",  # bold green
    Status.WARN: "1;33",  # bold yellow
    Status.FAIL: "1;31",  # bold red
    Status.SKIP: "2",  # dim
    Status.ERROR: "1;35",  # bold magenta
}
STATUS_WORD = {status: status.value.upper() for status in Status}
DIM, BOLD = "2", "1"
GAP = "  "


def path_text(result: Result) -> str:
    """source -> destination, from this host's point of view."""
    flow = result.flow
    if flow.direction is Direction.IN:
        return f"{flow.peer} -> this host"
    if not flow.host:
        return f"this host -> {flow.peer} (not configured)"
    target = flow.host
    if result.address and result.address != flow.host and "://" not in flow.host:
        target = f"{flow.host} ({result.address})"
    return f"this host -> {flow.peer} {target}"


def peer_text(result: Result) -> str:
    """The far end in a few words: path_text without "this host ->" (compact layout)."""
    text = path_text(result)
    return text.removeprefix("this host -> ")


def latency_text(result: Result) -> str:
    return "" if result.latency_ms is None else f"{result.latency_ms:.0f}"


def summary_line(report: Report) -> str:
    counts = report.counts()
    parts = [f"{counts[s.value]} {s.value}" for s in Status if counts[s.value]]
    verdict = report.verdict()
    meaning = {
        Status.PASS: "every required flow passed",
        Status.FAIL: "a required flow failed",
        Status.ERROR: "netcheck could not finish some checks",
    }[verdict]
    return f"{len(report.results)} flows: {', '.join(parts)} -> {verdict.value.upper()} ({meaning})"


# ---------------------------------------------------------------- measuring and wrapping

def safe(text: str) -> str:
    """terminal_text: printable ASCII as it is (a terminal obeys nothing in it: no C0 control, no DEL,
    and C1, bidi and line separators are not ASCII), the rest memoised (a big report repeats texts)."""
    if text.isascii() and text.isprintable():
        return text
    return _sanitised(text)


@functools.lru_cache(maxsize=65536)
def _sanitised(text: str) -> str:
    return terminal_text(text)


def cells(text: str) -> int:
    """Columns a (sanitised) text takes: its length, unless wide or combining characters are in it."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def _hard_break(word: str, width: int) -> list[str]:
    if word.isascii():
        return [word[i:i + width] for i in range(0, len(word), width)]
    pieces, piece, used = [], "", 0
    for char in word:
        size = cells(char)
        if used + size > width and piece:
            pieces.append(piece)
            piece, used = "", 0
        piece += char
        used += size
    return [*pieces, piece] if piece else pieces


@functools.lru_cache(maxsize=65536)
def wrap(text: str, width: int) -> tuple[str, ...]:
    """Greedy word wrap to `width` columns; a word longer than the width is broken.

    Leading spaces stay on the first line only."""
    if cells(text) <= width:
        return (text,)
    body = text.lstrip(" ")
    lead = len(text) - len(body)
    if lead:
        first, *rest = wrap(body, max(width - lead, 1))
        return (text[:lead] + first, *rest)
    lines: list[str] = []
    line, used = "", 0
    for word in text.split(" "):
        size = cells(word)
        if line and used + 1 + size <= width:
            line, used = f"{line} {word}", used + 1 + size
            continue
        if line:
            lines.append(line)
        if size <= width:
            line, used = word, size
        else:
            *full, line = _hard_break(word, width) or [""]
            lines.extend(full)
            used = cells(line)
    lines.append(line)
    return tuple(lines)


# ---------------------------------------------------------------- a table without a layout engine

# A cell is paragraphs of (sanitised text, SGR style or ""), each wrapped on its own.
Cell = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Column:
    """header; cap: widest it grows to; floor: narrowest it may shrink to; weight: 0 never shrinks, else
    the share of the width it keeps when columns must shrink (a column of weight 2 stays twice as wide)."""

    header: str
    cap: int = 10_000
    floor: int = 0
    weight: int = 0
    right: bool = False


def widest(texts: Sequence[str]) -> int:
    """The columns the widest of `texts` takes (0 for none): for ASCII only, measured in C."""
    if all(map(str.isascii, texts)):
        return max(map(len, texts), default=0)
    return max(map(cells, texts), default=0)


def column_widths(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> list[int] | None:
    """Each column as wide as its content (within its cap); the widest for its weight shrinks first until
    the table fits `width`. None when the columns cannot fit even at their floors."""
    natural = [max(cells(column.header), widest([text for row in rows for text, _ in row[index]]))
               for index, column in enumerate(columns)]
    # No column is wider than the table may be: a 1 MB detail costs no more shrinking steps than a short one.
    widths = [min(size, column.cap, width) for size, column in zip(natural, columns, strict=True)]
    excess = sum(widths) + len(GAP) * (len(columns) - 1) - width
    floors = [max(column.floor, cells(column.header)) for column in columns]
    while excess > 0:
        movable = [i for i, column in enumerate(columns) if column.weight and widths[i] > floors[i]]
        if not movable:
            return None
        index = max(movable, key=lambda i: widths[i] / columns[i].weight)
        widths[index] -= 1
        excess -= 1
    return widths


def narrowest_table(columns: Sequence[Column]) -> int:
    """No table of these columns is narrower than this, whatever its content."""
    return sum(max(column.floor, cells(column.header)) for column in columns) + len(GAP) * (len(columns) - 1)


def squeezed(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> list[int]:
    """Last resort for very narrow widths: shrink the widest column, one column at a time."""
    widths = [min(cells(c.header), 8) for c in columns]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], *(cells(text) for text, _ in cell), 0)
    widths = [min(w, c.cap, width) for w, c in zip(widths, columns, strict=True)]
    # The first column (the status word) keeps 5 columns as long as any other can still give one.
    # Two columns at least, for a wide (CJK) character.
    keep = [min(widths[0], 5), *([2] * (len(widths) - 1))]
    while sum(widths) + len(GAP) * (len(columns) - 1) > width:
        movable = [i for i in range(len(widths)) if widths[i] > keep[i]] or [i for i in range(len(widths))
                                                                             if widths[i] > 2]
        if not movable:
            break
        widths[max(movable, key=lambda i: widths[i])] -= 1
    return widths


def paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{style}m{text}\x1b[0m" if color and style and text else text


def pad(text: str, width: int, right: bool = False) -> str:
    if text.isascii():
        return text.rjust(width) if right else text.ljust(width)
    gap = " " * (width - cells(text))
    return gap + text if right else text + gap


@functools.lru_cache(maxsize=65536)
def padded(text: str, width: int, right: bool) -> tuple[str, ...]:
    """The wrapped lines of a text, each padded to the column width."""
    return tuple(pad(line, width, right) for line in wrap(text, width))


def cell_lines(cell: Cell, width: int, right: bool, color: bool) -> tuple[str, ...]:
    if len(cell) == 1 and not (color and cell[0][1]):
        return padded(cell[0][0], width, right)
    lines: tuple[str, ...] = ()
    for text, style in cell:
        block = padded(text, width, right)
        lines += tuple(_painted(line, style) for line in block) if color and style else block
    return lines


def _painted(line: str, style: str) -> str:
    """Colour the text of a padded line, not its padding."""
    text = line.strip(" ")
    if not text:
        return line
    start = line.index(text)
    return f"{line[:start]}\x1b[{style}m{text}\x1b[0m{line[start + len(text):]}"


def plain_layout(columns: Sequence[Column], widths: Sequence[int], rows: Iterable[Sequence[Cell]],
                 color: bool) -> str | None:
    """A %-format that lays out a line of the rows, when no cell needs wrapping or colour: every paragraph
    ASCII and within its column, and no style to paint (one C call per line instead of a pass per cell).
    None when some cell needs the general path (or `rows` can be read only once)."""
    if not isinstance(rows, Sequence):
        return None
    for index, size in enumerate(widths):
        paragraphs = [paragraph for row in rows for paragraph in row[index]]
        texts = [text for text, _style in paragraphs]
        if not all(map(str.isascii, texts)) or max(map(len, texts), default=0) > size:
            return None
        if color and any(style for _text, style in paragraphs):
            return None
    return GAP.join(f"%{'' if column.right else '-'}{size}s" for column, size in zip(columns, widths, strict=True))


def table_lines(columns: Sequence[Column], widths: Sequence[int], rows: Iterable[Sequence[Cell]], color: bool,
                after: Iterable[Cell] | None = None, indent: int = 0, width: int = 0) -> Iterator[str]:
    """Header, rule and rows; `after` (one cell per row) goes under each row, from `indent` to `width`."""
    header = GAP.join(_painted(pad(c.header[:w], w, c.right), BOLD) if color else pad(c.header[:w], w, c.right)
                      for c, w in zip(columns, widths, strict=True))
    yield header.rstrip()
    yield GAP.join("-" * w for w in widths)
    extras = iter(after) if after is not None else None
    layout = [(size, column.right, (" " * size,)) for size, column in zip(widths, columns, strict=True)]
    plain = plain_layout(columns, widths, rows, color)
    for row in rows:
        if plain is not None:  # the same lines as below, padded by one %-format (an empty cell pads to blank)
            height = max(map(len, row), default=0)
            if height == 1 and all(row):
                yield (plain % tuple([cell[0][0] for cell in row])).rstrip()
            else:
                for number in range(height):
                    yield (plain % tuple([cell[number][0] if number < len(cell) else "" for cell in row])).rstrip()
        else:
            yield from _row_lines(row, layout, color)
        if extras is not None:
            for text, style in next(extras):
                for line in wrap(text, max(width - indent, 1)):
                    yield " " * indent + paint(line, style, color)


def _row_lines(row: Sequence[Cell], layout: Sequence[tuple[int, bool, tuple[str]]], color: bool) -> Iterator[str]:
    # cell_lines inlined for plain cells: most are ASCII paragraphs that fit their column, one padded
    # line each (padded()'s answer, without its cache).
    stacks: list[tuple[str, ...]] = []
    for cell, (size, right, _blank) in zip(row, layout, strict=True):
        if not color or not any(style for _text, style in cell):
            if len(cell) == 1:
                text = cell[0][0]
                if len(text) <= size and text.isascii():
                    stacks.append((text.rjust(size) if right else text.ljust(size),))
                else:
                    stacks.append(padded(text, size, right))
                continue
            if all(len(text) <= size and text.isascii() for text, _style in cell):
                stacks.append(tuple(text.rjust(size) if right else text.ljust(size) for text, _style in cell))
                continue
        stacks.append(cell_lines(cell, size, right, color))
    height = max(map(len, stacks))
    if height > 1:
        stacks = [stack + blank * (height - len(stack))
                  for stack, (_size, _right, blank) in zip(stacks, layout, strict=True)]
    for parts in zip(*stacks, strict=True):
        yield GAP.join(parts).rstrip()


# ---------------------------------------------------------------- the flow matrix

FULL_COLUMNS = (
    Column("Status"),
    Column("Flow", cap=34, floor=20, weight=2),
    Column("Proto", cap=12),
    Column("Port"),
    Column("Source -> Destination", cap=44, floor=22, weight=2),
    Column("Reason"),
    Column("ms", right=True),
    Column("Detail", floor=30, weight=3),
)
COMPACT_COLUMNS = (
    Column("Status"),
    Column("Flow", cap=24, floor=10, weight=1),
    Column("Port", cap=14),
    Column("Peer", cap=32, floor=10, weight=1),
    Column("Reason", cap=19),
)


def _status_cell(result: Result) -> Cell:
    return ((STATUS_WORD[result.status], STATUS_STYLE[result.status]),)


def _port(result: Result) -> str:
    return f"{safe(result.flow.transport)}/{result.flow.port}"


def full_row(result: Result) -> list[Cell]:
    flow = result.flow
    purpose = safe(flow.purpose) + ("" if flow.required else " (optional)")
    return [
        _status_cell(result),
        ((safe(flow.id), ""), (purpose, DIM)),
        ((safe(flow.protocol), ""),),
        ((_port(result), ""),),
        ((safe(path_text(result)), ""),),
        ((WORD[result.reason], ""),),
        ((latency_text(result), ""),),
        ((safe(result.detail), ""),),
    ]


def compact_row(result: Result) -> list[Cell]:
    flow = result.flow
    return [_status_cell(result), ((safe(flow.id), ""),), ((_port(result), ""),),
            ((safe(peer_text(result)), ""),), ((WORD[result.reason], ""),)]


def compact_detail(result: Result) -> Cell:
    latency = latency_text(result)
    text = (f"{latency} ms; " if latency else "") + safe(result.detail)
    if not result.flow.required:
        text += " (optional)"
    return ((text, DIM),)


def flow_lines(results: Sequence[Result], width: int, color: bool) -> Iterator[str]:
    """The matrix of `results`: the full table when it fits in `width`, else the compact layout."""
    if width >= narrowest_table(FULL_COLUMNS):  # else it cannot fit: skip building its rows
        full = [full_row(result) for result in results]
        widths = column_widths(FULL_COLUMNS, full, width)
        if widths is not None:
            yield from table_lines(FULL_COLUMNS, widths, full, color)
            return
        del full
    rows = [compact_row(result) for result in results]
    widths = column_widths(COMPACT_COLUMNS, rows, width) or squeezed(COMPACT_COLUMNS, rows, width)
    indent = widths[0] + len(GAP)
    yield from table_lines(COMPACT_COLUMNS, widths, rows, color,
                           after=(compact_detail(result) for result in results), indent=indent, width=width)


# ---------------------------------------------------------------- summary first

def _number(value: int) -> Cell:
    return ((str(value) if value else "", ""),)


def peer_count_lines(report: Report, width: int, color: bool) -> Iterator[str]:
    statuses = list(Status)
    columns = (Column("Peer", cap=40, floor=8, weight=1), Column("Flows", right=True),
               *(Column(s.value, right=True) for s in statuses))
    rows = []
    for group in grouped_by_peer(report):
        tally = dict.fromkeys(statuses, 0)
        for result in group.results:
            tally[result.status] += 1
        rows.append([((safe(group.peer), ""),), _number(len(group.results)), *(_number(tally[s]) for s in statuses)])
    widths = column_widths(columns, rows, width) or squeezed(columns, rows, width)
    yield from table_lines(columns, widths, rows, color)


def reason_count_lines(report: Report, width: int, color: bool) -> Iterator[str]:
    tally: dict[tuple[Status, Reason], int] = {}
    for result in report.results:
        key = (result.status, result.reason)
        tally[key] = tally.get(key, 0) + 1
    order = sorted(tally, key=lambda key: (-STATUS_RANK[key[0]], -tally[key], key[1].value))
    columns = (Column("Status"), Column("Reason"), Column("Flows", right=True),
               Column("Meaning", floor=20, weight=1))
    rows = [[((status.value.upper(), STATUS_STYLE[status]),), ((reason.value, ""),), _number(tally[status, reason]),
             ((REASON_TEXT.get(reason, ""), ""),)] for status, reason in order]
    widths = column_widths(columns, rows, width) or squeezed(columns, rows, width)
    yield from table_lines(columns, widths, rows, color)


def not_passed(report: Report) -> list[Result]:
    """The flows worth a look: everything but pass and skip, worst first, in report order within a status."""
    flagged = [result for result in report.results if result.status not in (Status.PASS, Status.SKIP)]
    return sorted(flagged, key=lambda result: -STATUS_RANK[result.status])


def summary_lines(report: Report, width: int, color: bool) -> Iterator[str]:
    yield paint("By status and reason", BOLD, color)
    yield from reason_count_lines(report, width, color)
    yield ""
    yield paint("By peer", BOLD, color)
    yield from peer_count_lines(report, width, color)
    yield ""
    flagged = not_passed(report)
    if not flagged:
        yield "Every flow passed or was skipped."
        return
    heading = f"Flows that did not pass ({len(flagged)} of {len(report.results)}; --all lists every flow)"
    for line in wrap(heading, width):
        yield paint(line, BOLD, color)
    yield from flow_lines(flagged, width, color)


# ---------------------------------------------------------------- the whole output

def title_text(report: Report) -> str:
    info = report.info
    return safe(f"netcheck {info.version} - profile {info.profile} ({info.role}) at site {info.site} "
                f"from {info.host_name}")


def terminal_lines(report: Report, *, color: bool = False, width: int = PIPE_WIDTH,
                   view: str = FULL) -> Iterator[str]:
    """The lines of the terminal output, none longer than `width` columns (at least NARROWEST).

    The cyclic collector is paused until the last line (or until the caller closes the generator):
    a 50,000-row table is some 500,000 lists and tuples in no cycle, and the collector's walks
    over them took a third of the rendering time."""
    with collector_paused():
        yield from _terminal_lines(report, color, max(width, NARROWEST), view)


def _terminal_lines(report: Report, color: bool, width: int, view: str) -> Iterator[str]:
    yield from wrap(title_text(report), width)
    if view == SUMMARY:
        yield from wrap(summary_line(report), width)
        yield ""
        yield from summary_lines(report, width, color)
    else:
        yield from flow_lines(report.results, width, color)
    for line, indent in certificate_lines(report):
        for number, piece in enumerate(wrap(line, width - indent)):
            yield (" " * indent if number else "") + piece
    yield from wrap(summary_line(report), width)


def render_terminal(report: Report, *, color: bool = False, width: int = PIPE_WIDTH, view: str = FULL) -> str:
    return "".join(f"{line}\n" for line in terminal_lines(report, color=color, width=width, view=view))


def certificate_lines(report: Report) -> list[tuple[str, int]]:
    """The certificate verdicts under the matrix, each with the indent of its wrapped continuation lines."""
    if report.certificates is None:  # most scans: no need to load the certificate model
        return []
    from netcheck.render.certificates import certificate_sections

    sections = certificate_sections(report)
    if not sections:
        return []
    lines = [("Certificates (would the appliance accept the upload?):", 2)]
    for section in sections:
        verdict = section.verdict_word
        errors = [f for f in section.findings if f.severity == "error"]
        lines.append((f"  {verdict:<6} {safe(section.label)}" + (f": {len(errors)} error(s)" if errors else ""), 9))
        for found in errors:
            said = f' - the appliance says "{safe(found.appliance_message)}"' if found.appliance_message else ""
            lines.append((f"         {safe(found.code)}: {safe(found.message)}{said}", 9))
    return lines


def render_plain(report: Report) -> str:
    """The matrix without color, for files: every flow, at the fixed pipe width."""
    return render_terminal(report, color=False)
