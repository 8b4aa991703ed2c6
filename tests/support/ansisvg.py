"""A terminal screen as an SVG: `tmux capture-pane -e -p` output (text with SGR escapes) drawn
as monospace text, so the README's picture of the demo is a real run's screen.

Handles what tmux emits for a pane: reset, bold, reverse, the 8/16 colours, 256 colours and
truecolour, foreground and background. `python tests/support/ansisvg.py < capture > out.svg`;
tests/lab/test_demo_panes.py writes the README's picture with it (see the README's demo section).
"""

from __future__ import annotations

import html
import re
import sys
from dataclasses import dataclass, replace
from typing import List, Optional, Tuple

SGR = re.compile(r"\x1b\[([0-9;:]*)m")
OTHER_ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9])")

# xterm's 16 colours, darkened slightly for a white page.
PALETTE = [
    "#000000", "#cd0000", "#00a000", "#a08000", "#0000ee", "#cd00cd", "#00a0a0", "#c0c0c0",
    "#7f7f7f", "#ff0000", "#00c000", "#c0a000", "#5c5cff", "#ff00ff", "#00c0c0", "#ffffff",
]  # fmt: skip
FG, BG = "#1e1e1e", "#fdfdf6"
CELL_W, CELL_H, FONT = 7.2, 15.0, 12


@dataclass(frozen=True)
class Style:
    fg: Optional[str] = None
    bg: Optional[str] = None
    bold: bool = False
    reverse: bool = False


def rgb(r: int, g: int, b: int) -> str:
    return f"#{r:02x}{g:02x}{b:02x}"


def colour256(n: int) -> str:
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return rgb(steps[n // 36], steps[n // 6 % 6], steps[n % 6])
    grey = 8 + 10 * (n - 232)
    return rgb(grey, grey, grey)


def apply(style: Style, params: str) -> Style:
    codes = [int(c) if c else 0 for c in params.replace(":", ";").split(";")] if params else [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            style = Style()
        elif c == 1:
            style = replace(style, bold=True)
        elif c == 22:
            style = replace(style, bold=False)
        elif c == 7:
            style = replace(style, reverse=True)
        elif c == 27:
            style = replace(style, reverse=False)
        elif 30 <= c <= 37 or 90 <= c <= 97:
            style = replace(style, fg=PALETTE[c - 30 if c < 90 else c - 82])
        elif 40 <= c <= 47 or 100 <= c <= 107:
            style = replace(style, bg=PALETTE[c - 40 if c < 100 else c - 92])
        elif c == 39:
            style = replace(style, fg=None)
        elif c == 49:
            style = replace(style, bg=None)
        elif c in (38, 48):
            if i + 2 < len(codes) and codes[i + 1] == 5:
                value = colour256(codes[i + 2])
                i += 2
            elif i + 4 < len(codes) and codes[i + 1] == 2:
                value = rgb(*codes[i + 2 : i + 5])
                i += 4
            else:
                break
            style = replace(style, fg=value) if c == 38 else replace(style, bg=value)
        i += 1
    return style


def parse(capture: str) -> List[List[Tuple[str, Style]]]:
    """Each line as runs of (text, style)."""
    rows = []
    style = Style()
    for line in capture.rstrip("\n").split("\n"):
        runs: List[Tuple[str, Style]] = []
        pos = 0
        for m in SGR.finditer(line):
            text = OTHER_ESCAPE.sub("", line[pos : m.start()])
            if text:
                runs.append((text, style))
            style = apply(style, m.group(1))
            pos = m.end()
        text = OTHER_ESCAPE.sub("", line[pos:])
        if text:
            runs.append((text, style))
        rows.append(runs)
    return rows


def to_svg(capture: str, title: str = "") -> str:
    rows = parse(capture)
    cols = max((sum(len(t) for t, _ in runs) for runs in rows), default=1)
    width, height = cols * CELL_W + 16, len(rows) * CELL_H + 16
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" '
        f'font-size="{FONT}">',
    ]
    if title:
        out.append(f"<title>{html.escape(title)}</title>")
    out.append(f'<rect width="100%" height="100%" fill="{BG}" rx="6"/>')
    for y, runs in enumerate(rows):
        x = 0
        for text, style in runs:
            fg, bg = style.fg or FG, style.bg
            if style.reverse:
                fg, bg = style.bg or BG, style.fg or FG
            left, top = 8 + x * CELL_W, 8 + y * CELL_H
            if bg:
                out.append(
                    f'<rect x="{left:.1f}" y="{top:.1f}" width="{len(text) * CELL_W:.1f}" '
                    f'height="{CELL_H}" fill="{bg}"/>'
                )
            if text.strip():
                weight = ' font-weight="bold"' if style.bold else ""
                out.append(
                    f'<text x="{left:.1f}" y="{top + CELL_H - 4:.1f}" fill="{fg}"{weight} xml:space="preserve" '
                    f'textLength="{len(text) * CELL_W:.1f}" lengthAdjust="spacingAndGlyphs">{html.escape(text)}</text>'
                )
            x += len(text)
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(to_svg(sys.stdin.read(), title=" ".join(sys.argv[1:])))
