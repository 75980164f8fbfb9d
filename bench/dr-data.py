#!/usr/bin/python3
# bench/dr-data.py: the data bench/dr-hop writes (not a benchmark of its
# own: not executable, so `make bench` skips it).
#
#   python3 bench/dr-data.py text DIR --files N --mib M --seed S
#   python3 bench/dr-data.py random DIR --files N --mib M
#
# text: N files making M MiB of application-log-like lines (time stamp,
# level, component, request id, path, status, sizes and durations drawn
# from a seeded generator): compressible the way logs and text are, every
# file different. random: N files of os.urandom bytes, incompressible.
import argparse
import os
import random

CHUNK = 1 << 20
LEVELS = ["INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]
COMPONENTS = ["api", "worker", "scheduler", "db-pool", "auth", "cache", "billing", "mailer"]
VERBS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
PATHS = ["/api/v1/items", "/api/v1/users", "/api/v1/orders", "/api/v2/search",
         "/healthz", "/api/v1/invoices", "/static/app.js", "/api/v1/session"]
STATUS = [200, 200, 200, 200, 201, 204, 304, 400, 404, 500]
WORDS = ["request", "served", "cache", "miss", "hit", "retry", "timeout", "user",
         "order", "queued", "commit", "rollback", "token", "refresh", "slow", "query"]


def text_chunk(rng, t):
    lines = []
    size = 0
    while size < CHUNK:
        t += rng.randrange(50, 5000)
        line = "2026-11-25T%02d:%02d:%02d.%06dZ %-5s %s[%d] %s %s/%d id=%08x status=%d bytes=%d ms=%.1f %s %s\n" % (
            (t // 3600000000) % 24, (t // 60000000) % 60, (t // 1000000) % 60, t % 1000000,
            rng.choice(LEVELS), rng.choice(COMPONENTS), rng.randrange(1, 64),
            rng.choice(VERBS), rng.choice(PATHS), rng.randrange(1, 100000),
            rng.getrandbits(32), rng.choice(STATUS), rng.randrange(0, 65536),
            rng.random() * 200, rng.choice(WORDS), rng.choice(WORDS))
        lines.append(line)
        size += len(line)
    return "".join(lines).encode()[:CHUNK], t


def main():
    ap = argparse.ArgumentParser(prog="dr-data.py")
    ap.add_argument("kind", choices=("text", "random"))
    ap.add_argument("dir")
    ap.add_argument("--files", type=int, required=True)
    ap.add_argument("--mib", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    t = 0
    os.makedirs(args.dir, exist_ok=True)
    per = args.mib // args.files
    for i in range(args.files):
        n = per if i < args.files - 1 else args.mib - per * (args.files - 1)
        with open(os.path.join(args.dir, "f%03d" % i), "wb") as f:
            for _ in range(n):
                if args.kind == "text":
                    buf, t = text_chunk(rng, t)
                else:
                    buf = os.urandom(CHUNK)
                f.write(buf)


if __name__ == "__main__":
    main()
