#!/usr/bin/python3
# bench/lag-probe.py: the two ends of bench/repl-lag (not a benchmark of its
# own: not executable, so `make bench` leaves it alone).
#
#   python3 bench/lag-probe.py write DIR --rate R --duration S --size B --load append|files
#   python3 bench/lag-probe.py watch DIR --count N --deadline S --load append|files
#                                        --ready FILE --out FILE
#
# write: R records a second for S seconds into DIR, on a fixed schedule
# (record i is due at start + i / R; a late one goes at once). A record is
# one line of B bytes: "SEQ SEND_NS xxx...\n", SEND_NS being CLOCK_REALTIME
# in ns taken just before the file is opened. --load append: each record is
# open(O_APPEND) + write + close of DIR/log; --load files: each record is
# a new file DIR/rSEQ (create + write + close). Prints one JSON line:
# records written, how late the writer fell behind its schedule.
#
# watch: inotify on DIR (a copy made by replication); at every event (and
# after 20 ms without one, in case one was missed) reads what is new and stamps each
# complete record it finds with CLOCK_REALTIME: the lag is stamp - SEND_NS.
# Every namespace of the lab shares the host's clock. Touches FILE --ready
# once the watch is set, writes "SEQ LAG_NS" lines to --out, and stops when
# N records were seen or S seconds passed. Prints one JSON line: records
# seen, and how many were found only by a read after 20 ms without events
# (their stamp may be up to 20 ms late).
import argparse
import ctypes
import json
import os
import select
import struct
import sys
import time

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_Q_OVERFLOW = 0x00004000
EVENT_HEAD = struct.Struct("iIII")
LOG_NAME = "log"
FILE_PREFIX = "r"
FALLBACK_MS = 20


def record(seq, size):
    head = "%08d %019d " % (seq, time.time_ns())
    return (head + "x" * (size - len(head) - 1) + "\n").encode()


def write(args):
    period = 1.0 / args.rate
    total = int(args.rate * args.duration)
    late_max = 0.0
    late_n = 0
    start = time.monotonic()
    log = os.path.join(args.dir, LOG_NAME)
    for seq in range(total):
        due = start + seq * period
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        else:
            late = now - due
            late_max = max(late_max, late)
            if late > period:
                late_n += 1
        buf = record(seq, args.size)        # the send time: before the open
        if args.load == "append":
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        else:
            fd = os.open(os.path.join(args.dir, "%s%08d" % (FILE_PREFIX, seq)),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, buf)
        os.close(fd)
    elapsed = time.monotonic() - start
    print(json.dumps({"written": total, "seconds": round(elapsed, 3),
                      "late_max_ms": round(late_max * 1000, 2),
                      "late_over_period": late_n}))


class Watch:
    """What has been seen of DIR so far, and the lag of each record."""

    def __init__(self, args):
        self.dir = args.dir
        self.load = args.load
        self.count = args.count
        self.offset = 0             # append: bytes of DIR/log already consumed
        self.seen = {}              # seq -> lag in ns
        self.by_fallback = 0
        self.bad = 0                # lines that are not records (never consumed)

    def parse(self, line, stamp):
        parts = line.split(b" ", 2)
        if len(parts) < 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        seq = int(parts[0])
        if seq not in self.seen:
            self.seen[seq] = stamp - int(parts[1])
        return seq

    def read_log(self, fallback):
        try:
            with open(os.path.join(self.dir, LOG_NAME), "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        stamp = time.time_ns()
        before = len(self.seen)
        pos = 0
        while True:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            if self.parse(data[pos:nl], stamp) is None:
                # not (yet) a record: a hole the copier has not filled;
                # read it again at the next event
                self.bad += 1
                break
            pos = nl + 1
        self.offset += pos
        if fallback:
            self.by_fallback += len(self.seen) - before

    def read_file(self, name, fallback):
        if not name.startswith(FILE_PREFIX) or not name[len(FILE_PREFIX):].isdigit():
            return
        if int(name[len(FILE_PREFIX):]) in self.seen:
            return
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return
        stamp = time.time_ns()
        if data.endswith(b"\n") and self.parse(data[:-1], stamp) is not None and fallback:
            self.by_fallback += 1

    def sweep(self, idle):
        # idle: no event for FALLBACK_MS, so what is found now may have
        # been there up to that long (an event was missed)
        if self.load == "append":
            self.read_log(idle)
        else:
            for name in os.listdir(self.dir):
                self.read_file(name, idle)

    def done(self):
        return len(self.seen) >= self.count


def watch(args):
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        sys.exit("lag-probe: inotify_init1: %s" % os.strerror(ctypes.get_errno()))
    mask = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
    if libc.inotify_add_watch(fd, os.fsencode(args.dir), mask) < 0:
        sys.exit("lag-probe: inotify_add_watch %s: %s" % (args.dir, os.strerror(ctypes.get_errno())))
    w = Watch(args)
    open(args.ready, "w").close()
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + args.deadline
    last_sweep = time.monotonic()
    overflows = 0
    while not w.done() and time.monotonic() < deadline:
        if not poller.poll(FALLBACK_MS):
            w.sweep(True)
            last_sweep = time.monotonic()
            continue
        try:
            buf = os.read(fd, 1 << 16)
        except BlockingIOError:
            continue
        names = set()
        pos = 0
        while pos + EVENT_HEAD.size <= len(buf):
            _, ev, _, length = EVENT_HEAD.unpack_from(buf, pos)
            name = buf[pos + EVENT_HEAD.size:pos + EVENT_HEAD.size + length].rstrip(b"\0")
            pos += EVENT_HEAD.size + length
            if ev & IN_Q_OVERFLOW:
                overflows += 1
            names.add(os.fsdecode(name))
        if w.load == "append":
            if LOG_NAME in names or overflows:
                w.read_log(False)
        else:
            for name in sorted(names):
                w.read_file(name, False)
        if time.monotonic() - last_sweep > 1.0 or overflows:
            # a busy stream never leaves the poll idle: sweep now and then
            w.sweep(False)
            last_sweep = time.monotonic()
            overflows = 0
    w.sweep(True)
    with open(args.out, "w") as out:
        for seq in sorted(w.seen):
            out.write("%d %d\n" % (seq, w.seen[seq]))
    print(json.dumps({"seen": len(w.seen), "by_fallback": w.by_fallback,
                      "unparsed_reads": w.bad}))


def main():
    ap = argparse.ArgumentParser(prog="lag-probe.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("write")
    a.add_argument("dir")
    a.add_argument("--rate", type=float, required=True)
    a.add_argument("--duration", type=float, required=True)
    a.add_argument("--size", type=int, default=256)
    a.add_argument("--load", choices=("append", "files"), default="append")
    b = sub.add_parser("watch")
    b.add_argument("dir")
    b.add_argument("--count", type=int, required=True)
    b.add_argument("--deadline", type=float, required=True)
    b.add_argument("--load", choices=("append", "files"), default="append")
    b.add_argument("--ready", required=True)
    b.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.cmd == "write":
        if args.size < 40:
            sys.exit("lag-probe: --size of at least 40 bytes")
        write(args)
    else:
        watch(args)


if __name__ == "__main__":
    main()
