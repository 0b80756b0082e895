"""-t: copy bytes between the user's terminal and the container's pty.

The user's terminal goes into raw mode so every key (Ctrl-C included) reaches
the container's own line discipline, which turns it into a signal for the
container's foreground process group, as a local terminal would.
"""

import os
import select


def proxy(master, interactive):
    """Relay until the container side of the pty is closed by every process."""
    restore = _make_raw(0) if interactive else None
    reading_stdin = interactive
    try:
        while True:
            watched = [master, 0] if reading_stdin else [master]
            ready, _, _ = select.select(watched, [], [])
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every slave descriptor is closed
                    return
                if not data:
                    return
                _write_all(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    _write_all(master, data)
                else:
                    reading_stdin = False
                    _write_all(master, b"\x04")  # end of input: the pty's EOF character
    finally:
        if restore:
            restore()


def _make_raw(fd):
    if not os.isatty(fd):
        return None
    import termios
    import tty
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)  # not TCSAFLUSH: keep what was typed ahead
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
