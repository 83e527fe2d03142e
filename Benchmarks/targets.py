#!/usr/bin/env python3
"""Checks a table written by `compare.py --markdown OUT.md` against the targets of issue 4.

    python3 Benchmarks/targets.py OUT.md

For every row it prints the ratio the target asks for, the ratio measured, and, for a miss, the
time the target needs and the rate that time asks of the multiply-adds alone, as a share of the
machine's matrix-product rate (the best 2048³ product of the three engines; above 100%: faster
than a plain large product runs on this machine) and of its FMA ceiling (above 100%: no
implementation can meet it on this machine).
"""
import re
import sys

FORWARD, TRAIN = 1.3, 1.5
EXCEPTIONS = {("deepbench-512", "forward"): 1.0, ("deepbench-1024", "forward"): 1.0, ("gru", "train"): 2.0}
RATE_TARGET = {"medium", "large", "deep-4"}  # forward: 65% of the machine's matrix-product rate


def rows(text):
    """The result rows of compare.py's table: 11 cells each, the third starting with a number."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 11 and cells[2][:1].isdigit():
            yield line, cells


def main(path):
    try:
        with open(path) as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as error:
        sys.exit(f"targets.py: cannot read {path}: {getattr(error, 'strerror', None) or error}")
    rate = re.search(r"is (\d+(?:\.\d+)?) GFLOP/s: no engine", text)
    product = re.search(r"The machine's rate is the highest of the three, (\d+(?:\.\d+)?) GFLOP/s", text)
    if not rate or not product or not any(rows(text)):
        sys.exit(f"targets.py: {path} is not a table from `compare.py --markdown` (no rate lines or no rows)")
    ceiling, product_rate = float(rate.group(1)), float(product.group(1))
    found = []
    for line, cells in rows(text):
        try:
            found += check(cells, ceiling, product_rate)
        except (ValueError, IndexError):
            sys.exit(f"targets.py: a row of {path} does not parse: {line.strip()[:120]}")
    print(f"Matrix-product rate: {product_rate:.0f} GFLOP/s; FMA ceiling: {ceiling:.0f} GFLOP/s\n")
    print("| config | mode | target | measured | met | time the target needs | share of the product rate it needs "
          "| share of the FMA ceiling it needs |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(found))


def check(cells, ceiling, product_rate):
    """The target rows for one row of the table."""
    found = []
    name, mode = cells[0], cells[1]
    ours = float(cells[2].split("/")[0])
    # Each peer: (min ms, its ratio as compare.py printed it from the unrounded times).
    peers = {"PyTorch": (cells[3], cells[5])}
    if mode == "forward":
        peers["ORT"] = (cells[4], cells[6])
    peers = {k: (float(ms.split("/")[0]), float(r.rstrip("×"))) for k, (ms, r) in peers.items() if ms != "—"}
    who, (best, ratio) = min(peers.items(), key=lambda kv: kv[1][1])
    target = EXCEPTIONS.get((name, mode), FORWARD if mode == "forward" else TRAIN)
    gflop = float(cells[7]) * ours / 1e3
    needed = best / target
    asked = gflop / (needed / 1e3)  # GFLOP/s
    met = ratio >= target
    shares = "— | —" if met else f"{100 * asked / product_rate:.0f}% | {100 * asked / ceiling:.0f}%"
    found.append(f"| {name} | {mode} | {target:.1f}× {who} | {ratio:.2f}× | {'yes' if met else 'no'} "
                 f"| {needed:.2f} ms | {shares} |")
    if mode == "forward" and name in RATE_TARGET:
        rate = float(cells[8].rstrip("%"))
        found.append(f"| {name} | forward | 65% of product rate | {rate:.0f}% | {'yes' if rate >= 65 else 'no'} | — | — | — |")
    if mode == "train" and cells[10] != "—":
        mine, theirs = (float(v) for v in cells[10].split("/"))
        met = "yes" if mine <= theirs else "no"
        found.append(f"| {name} | train | peak memory ≤ PyTorch | {mine:.0f} / {theirs:.0f} MB | {met} | — | — | — |")
    return found


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
