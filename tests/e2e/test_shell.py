"""`privcast machine run --shell`: on a terminal the machine gets a pty of its own
(tty, window size and resizes, Ctrl-C to its foreground job, exit code propagated), the
user's terminal modes come back after the CLI exits (also when it is killed), and the
throwaway machine is gone afterwards. Piped stdio still works as is.

The "user's terminal" is a pty this test opens (os.openpty) and makes the CLI's controlling
terminal, so resizing it sends the CLI a real SIGWINCH."""
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
import unittest

import harness
from harness import Host, require_root

APP = "shellapp"
HANG = 60.0  # guard against a hang, not a performance bound


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def make_controlling_tty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Term:
    """The CLI running on a pty of ours; `expect` reads what it shows."""

    def __init__(self, host, args, rows=33, cols=101):
        self.master, self.slave = os.openpty()
        set_winsize(self.master, rows, cols)
        self.modes_before = termios.tcgetattr(self.slave)
        self.buf = b""
        self.proc = subprocess.Popen([harness.PRIVCAST] + args, stdin=self.slave, stdout=self.slave,
                                     stderr=self.slave, env=host.env(), cwd=host.workdir,
                                     preexec_fn=make_controlling_tty, close_fds=True)

    def send(self, data):
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def _read(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every slave is closed
            return False
        self.buf += chunk
        return bool(chunk)

    def expect(self, pattern, timeout=HANG):
        """Waits until `pattern` (regex) shows up in the output; consumes up to its end."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; output so far: {self.buf[-2000:]!r}")
            self._read(min(left, 0.5))

    def wait(self, timeout=HANG):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.1)  # keep draining so the CLI never blocks on a full terminal
        return self.proc.wait(max(0.1, deadline - time.monotonic()))

    def modes(self):
        return termios.tcgetattr(self.slave)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


@require_root
class Shell(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Host().__enter__()
        cls.addClassCleanup(cls.h.cleanup)  # also when the rest of setUpClass fails
        cls.h.cli(["apps", "create", APP])

    def machine_ids(self):
        return {m["id"] for m in self.h.cli_json(["machine", "list", "-a", APP])}

    def assert_machine_gone(self, mid):
        harness.wait_for(lambda: mid not in self.machine_ids(), 30, f"machine {mid} destroyed")

    def test_interactive_shell_on_a_pty(self):
        t = Term(self.h, ["machine", "run", "--shell", "-a", APP])
        try:
            # The CLI put our terminal in raw mode (the pty inside does the line editing).
            t.send("echo ID-$FLY_MACHINE_ID-\r")
            mid = t.expect(r"ID-([0-9a-f]{14})-").group(1).decode()
            raw = t.modes()
            self.assertFalse(raw[3] & (termios.ICANON | termios.ECHO | termios.ISIG), "terminal not raw")

            t.send("tty; echo T-$((6*7))\r")
            m = t.expect(r"(/dev/pts/\d+)\r?\nT-42")
            self.assertRegex(m.group(1).decode(), r"^/dev/pts/\d+$")

            t.send("stty size; echo S-$((1+1))\r")
            t.expect(r"(?<!\d)33 101\r?\nS-2")

            # Resize our terminal: the kernel sends the CLI SIGWINCH, the daemon copies the size.
            # Asked again until the machine sees it (each answer is awaited, no fixed sleeps).
            set_winsize(t.master, 40, 120)
            deadline = time.monotonic() + HANG
            n = 0
            while True:
                n += 1
                t.send(f"stty size; echo R{n}-$(({n}))-\r")
                size = t.expect(rf"(?<!\d)(\d+ \d+)\r?\nR{n}-{n}-").group(1)  # maybe after a prompt
                if size == b"40 120":
                    break
                self.assertEqual(size, b"33 101")
                self.assertLess(time.monotonic(), deadline, "the new size never reached the machine")

            # Ctrl-C is a byte to the pty, SIGINT to the machine's foreground job: the job
            # dies (status 130) and the shell survives.
            t.send("sh -c 'echo READY-$((5+5)); exec sleep 100'\r")
            t.expect(r"READY-10")
            t.send(b"\x03")
            t.send("echo RC-$?-\r")
            t.expect(r"RC-130-")
            t.send("echo ALIVE-$((3+4))\r")
            t.expect(r"ALIVE-7")

            t.send("exit 7\r")
            self.assertEqual(t.wait(), 7)
            self.assertEqual(t.modes(), t.modes_before, "terminal modes not restored")
            self.assert_machine_gone(mid)
        finally:
            t.close()

    def test_killed_cli_restores_the_terminal_and_the_machine_goes(self):
        t = Term(self.h, ["machine", "run", "--shell", "-a", APP, "--", "sh", "-c",
                          "echo ID-$FLY_MACHINE_ID-; exec sleep 1000"])
        try:
            mid = t.expect(r"ID-([0-9a-f]{14})-").group(1).decode()
            self.assertNotEqual(t.modes(), t.modes_before, "terminal not raw during the session")
            t.proc.send_signal(signal.SIGTERM)
            self.assertEqual(t.wait(), -signal.SIGTERM, "the CLI re-raises the signal")
            self.assertEqual(t.modes(), t.modes_before, "terminal modes not restored after SIGTERM")
            self.assert_machine_gone(mid)
        finally:
            t.close()

    def test_piped_stdio_is_passed_as_is(self):
        # No CMD: /bin/sh, reading its commands from our pipe.
        p = self.h.cli(["machine", "run", "--shell", "-a", APP], check=False,
                       input="tty || echo NOTTY-$((2*21)); exit 5\n")
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertIn("NOTTY-42", p.stdout)
        self.assertNotIn("/dev/pts/", p.stdout)


if __name__ == "__main__":
    harness.main()
