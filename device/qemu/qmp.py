#!/usr/bin/env python3
"""QMP client and PNG check for device/qemu/boot-test.sh (Python standard library only).

  qmp.py SOCKET screendump OUT.png     capture the virtio-gpu head as PNG
  qmp.py SOCKET type TEXT              type TEXT (digits, letters, '\\n' = Enter) with
                                       input-send-event; QEMU routes it to the guest's keyboard
                                       (the only one: the virtio keyboard)
  qmp.py SOCKET tap X Y W H            press and release at pixel (X, Y) of a W x H screen with
                                       the virtio tablet (absolute pointer, the touch screen's
                                       stand-in)
  qmp.py SOCKET quit                   stop QEMU
  qmp.py - check-png FILE W H [MIN_COLOURS]
                                       exit 1 unless FILE is a W x H PNG with at least
                                       MIN_COLOURS (default 8) distinct colours
  qmp.py - differ A.png B.png          exit 1 unless the two PNGs' pixels differ
"""

import json
import socket
import struct
import sys
import time
import zlib


class Qmp:
    def __init__(self, path, timeout=60.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        greeting = self._read()
        if "QMP" not in greeting:
            raise RuntimeError(f"not a QMP greeting: {greeting}")
        self.command("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QMP socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def command(self, name, **arguments):
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                continue  # asynchronous events (e.g. RESET) are not answers
            if "error" in reply:
                raise RuntimeError(f"QMP {name}: {reply['error']}")
            return reply.get("return")


def qcode(ch):
    if ch == "\n":
        return "ret"
    if ch.isdigit() or ("a" <= ch <= "z"):
        return ch
    raise ValueError(f"no key for {ch!r}")


def type_text(qmp, text):
    for ch in text:
        key = {"type": "qcode", "data": qcode(ch)}
        for down in (True, False):
            # No `device`: a device id only works for input devices bound to a display
            # console, which a virtio keyboard is not.
            qmp.command("input-send-event", events=[{"type": "key", "data": {"down": down, "key": key}}])
            time.sleep(0.03)


def tap(qmp, x, y, width, height):
    # QEMU's absolute axes run from 0 to 0x7fff across the screen.
    ax = round(x * 0x7FFF / (width - 1))
    ay = round(y * 0x7FFF / (height - 1))
    qmp.command(
        "input-send-event",
        events=[
            {"type": "abs", "data": {"axis": "x", "value": ax}},
            {"type": "abs", "data": {"axis": "y", "value": ay}},
        ],
    )
    time.sleep(0.1)
    for down in (True, False):
        qmp.command("input-send-event", events=[{"type": "btn", "data": {"down": down, "button": "left"}}])
        time.sleep(0.1)


def read_png(path):
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG (what QEMU's screendump writes)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace:
                raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour {colour})")
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    if width is None:
        raise ValueError(f"{path}: no IHDR")
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def colours(rows, bpp):
    seen = set()
    for row in rows[::4]:
        for x in range(0, len(row), bpp * 4):
            seen.add(row[x : x + 3])
    return seen


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    sock, cmd, args = argv[1], argv[2], argv[3:]
    if cmd == "check-png":
        path, want_w, want_h = args[0], int(args[1]), int(args[2])
        min_colours = int(args[3]) if len(args) > 3 else 8
        w, h, bpp, rows = read_png(path)
        n = len(colours(rows, bpp))
        print(f"{path}: {w}x{h}, {n} distinct colours (sampled)")
        if (w, h) != (want_w, want_h):
            print(f"expected {want_w}x{want_h}", file=sys.stderr)
            return 1
        if n < min_colours:
            print(f"looks blank: fewer than {min_colours} colours", file=sys.stderr)
            return 1
        return 0
    if cmd == "differ":
        a, b = read_png(args[0]), read_png(args[1])
        changed = sum(1 for ra, rb in zip(a[3], b[3]) if ra != rb)
        print(f"{changed} of {len(a[3])} rows differ between {args[0]} and {args[1]}")
        return 0 if changed > 0 else 1
    qmp = Qmp(sock)
    if cmd == "screendump":
        qmp.command("screendump", filename=args[0], format="png")
    elif cmd == "type":
        type_text(qmp, args[0].replace("\\n", "\n"))
    elif cmd == "tap":
        tap(qmp, *(int(a) for a in args[:4]))
    elif cmd == "quit":
        qmp.command("quit")
    else:
        print(f"unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
