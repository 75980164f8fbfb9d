#!/usr/bin/python3
# bench/resync-data.py: the data sets and the difference of bench/resync
# (not a benchmark of its own: not executable, so `make bench` skips it).
#
#   python3 bench/resync-data.py big DIR --files N --mib M
#   python3 bench/resync-data.py small DIR --files N --size B
#   python3 bench/resync-data.py plan DIR --percent P --seed S --out PLAN
#   python3 bench/resync-data.py apply PLAN DIR
#
# big: N files of random bytes making M MiB in all, in DIR.
# small: N files of B random bytes, 1,000 to a folder (DIR/d0000/f000000).
# plan: picks P % of the 64 KiB blocks of every regular file under DIR
# (the blocks `lifeline check` hashes; a file's last block may be shorter),
# at random with seed S, and new random contents for them; writes the list
# to PLAN and the contents to PLAN.data.
# apply: writes those contents over those blocks in the copy DIR, in place
# (same size, new mtime: what a copy that missed changes looks like).
import argparse
import json
import os
import random
import sys

BLOCK = 65536
CHUNK = 1 << 20
PER_FOLDER = 1000


def big(args):
    total = args.mib * CHUNK
    each = total // args.files
    os.makedirs(args.dir, exist_ok=True)
    for i in range(args.files):
        size = each if i < args.files - 1 else total - each * (args.files - 1)
        with open(os.path.join(args.dir, "f%04d" % i), "wb") as f:
            while size > 0:
                n = min(size, CHUNK)
                f.write(os.urandom(n))
                size -= n


def small(args):
    for i in range(args.files):
        d = os.path.join(args.dir, "d%04d" % (i // PER_FOLDER))
        if i % PER_FOLDER == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%06d" % i), "wb") as f:
            f.write(os.urandom(args.size))


def plan(args):
    blocks = []
    for top, dirs, files in os.walk(args.dir):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(top, name)
            size = os.lstat(path).st_size
            rel = os.path.relpath(path, args.dir)
            for off in range(0, size, BLOCK):
                blocks.append((rel, off, min(BLOCK, size - off)))
    if not blocks:
        sys.exit("resync-data: no data under %s" % args.dir)
    rng = random.Random(args.seed)
    count = max(1, round(len(blocks) * args.percent / 100))
    chosen = sorted(rng.sample(blocks, count))
    with open(args.out, "w") as out, open(args.out + ".data", "wb") as data:
        for rel, off, n in chosen:
            out.write(json.dumps({"path": rel, "offset": off, "length": n}) + "\n")
            data.write(rng.randbytes(n))
    print(json.dumps({"blocks": len(blocks), "changed": count,
                      "files": len({c[0] for c in chosen}),
                      "bytes": sum(c[2] for c in chosen)}))


def apply(args):
    with open(args.plan) as lst, open(args.plan + ".data", "rb") as data:
        for line in lst:
            b = json.loads(line)
            buf = data.read(b["length"])
            fd = os.open(os.path.join(args.dir, b["path"]), os.O_WRONLY)
            try:
                os.pwrite(fd, buf, b["offset"])
            finally:
                os.close(fd)


def main():
    ap = argparse.ArgumentParser(prog="resync-data.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("big")
    a.add_argument("dir")
    a.add_argument("--files", type=int, required=True)
    a.add_argument("--mib", type=int, required=True)
    a = sub.add_parser("small")
    a.add_argument("dir")
    a.add_argument("--files", type=int, required=True)
    a.add_argument("--size", type=int, required=True)
    a = sub.add_parser("plan")
    a.add_argument("dir")
    a.add_argument("--percent", type=float, required=True)
    a.add_argument("--seed", type=int, required=True)
    a.add_argument("--out", required=True)
    a = sub.add_parser("apply")
    a.add_argument("plan")
    a.add_argument("dir")
    args = ap.parse_args()
    {"big": big, "small": small, "plan": plan, "apply": apply}[args.cmd](args)


if __name__ == "__main__":
    main()
