"""Replaying 24-pin ESC/P output (CUPS's rastertoepson) into the dots it would print.

TECH.md: CR sets x = 0, `ESC $ nL nH` sets x in 1/60 in, LF advances by the `ESC 3` /
`ESC +` spacing, `ESC J n` feeds n/180 in, `ESC * m nL nH` carries graphics columns
(m 39: 180 dpi, 3 bytes a column; 40/41: 360 dpi; 72/73: 48-dot), FF ends the page.
Coordinates are 180ths of an inch from where the head starts (the top-left of the
printable area).
"""

from __future__ import annotations

DPI = 180
_ONE_ARG = set(b"PMgxUlQCNkrtpSW!-")  # commands with one parameter byte we can skip


def replay(data: bytes) -> set[tuple[int, int]]:
    dots: set[tuple[int, int]] = set()
    x = y = 0.0
    spacing = DPI / 6  # 1/6 inch until ESC 3 / ESC + says otherwise
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 0x0D:
            x = 0
            i += 1
        elif byte == 0x0A:
            y += spacing
            i += 1
        elif byte == 0x0C:
            break
        elif byte != 0x1B:
            i += 1
        else:
            cmd = data[i + 1]
            if cmd == ord("@"):
                x = y = 0.0
                spacing = DPI / 6
                i += 2
            elif cmd == ord("$"):
                x = (data[i + 2] + 256 * data[i + 3]) * DPI / 60
                i += 4
            elif cmd == ord("3"):
                spacing = data[i + 2]  # n/180 in on 24-pin printers
                i += 3
            elif cmd == ord("+"):
                spacing = data[i + 2] / 2  # n/360 in
                i += 3
            elif cmd == ord("2"):
                spacing = DPI / 6
                i += 2
            elif cmd == ord("J"):
                y += data[i + 2]
                i += 3
            elif cmd == ord("*"):
                mode, columns = data[i + 2], data[i + 3] + 256 * data[i + 4]
                per_column = {32: 3, 33: 3, 38: 3, 39: 3, 40: 3, 71: 6, 72: 6, 73: 6}.get(mode, 1)
                step = {40: 0.5, 41: 0.5, 72: 0.5, 73: 0.5}.get(mode, 1.0)
                pins = per_column * 8
                start = i + 5
                for col in range(columns):
                    chunk = data[start + col * per_column:start + (col + 1) * per_column]
                    for pin in range(pins):
                        if chunk[pin // 8] & (0x80 >> (pin % 8)):
                            dots.add((round(x + col * step), round(y + pin * (24 / pins))))
                x += columns * step
                i = start + columns * per_column
            elif cmd == ord("("):
                length = data[i + 3] + 256 * data[i + 4]
                i += 5 + length
            elif cmd == ord("C"):
                i += 4 if data[i + 2] == 0 else 3
            elif cmd in _ONE_ARG:
                i += 3
            else:
                i += 2
    return dots


def bbox(points) -> tuple[int, int, int, int]:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)
