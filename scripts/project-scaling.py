#!/usr/bin/python3
"""The efficiency model of docs/scaling.md ("A model of efficiency"), with
its assumptions as named constants: prints the projected parallel
efficiency of the jobs of that section at 64, 1024 and 16384 ranks, with
the write calls costed per range (the writers' rows as they came before
the block plan) and per write (now: each writer's workers draw from a
block of lines of its own, and a write takes the rows below the lowest
line its workers still compute), and each writer's utilisation.

usage: scripts/project-scaling.py [--verbose]
"""
import sys

# Assumptions (docs/scaling.md, "Assumptions of the projection").
T_M = {64: 3e-6, 1024: 5e-6, 16384: 5e-6}      # master CPU per report, s
RANGE_S = 0.2                                   # c * t_line: compute time of a range
SLACK_S = 0.4                                   # two ranges a worker holds or sends ahead
AHEAD = 3                                       # ranges the master keeps per worker
WRITE_S = 0.25                                  # WRITE_SECONDS
B_W = 1e9                                       # one writer's write bandwidth, B/s
B_FS = {64: 2e9, 1024: 20e9, 16384: 100e9}      # file system aggregate, B/s
B_NET, B_MEM = 10e9, 5e9                        # a writer's receive, memcpy, B/s
WRITERS = {64: 1, 1024: 16, 16384: 256}         # one writer per 64 ranks
F = {1: 0.05, 16: 0.05, 256: 0.1, 512: 0.12}    # fixed cost of one collective write, s
START = {64: 0.3, 1024: 2.0, 16384: 10.0}       # MPI_Init and the creation, s
CLOSE_S = 1.0
T_WORK = 1800.0                                 # compute seconds per worker
C_CALL = 10e-6                                  # one H5Dwrite of one box
BOXES_RANGE = 3                                 # boxes of one range (rows as they came)
BOXES_WRITE = 3                                 # boxes of one write (block plan; 2.2 measured)
POINT_BYTES_ALL = 103                           # bytes a point holds, every field
HELD_MAX = 256e6                                # a quarter of memory_limit_mb (1024 MB)

# Jobs: seconds per line, bytes per line, fields written.
JOBS = [
    ("ODE warm, every field", 5e-3, 20.7e3, 40),
    ("ODE warm, 5 point fields", 5e-3, 20.7e3 * 26 / 103, 5),
    ("ODE cold, every field", 65e-3, 20.7e3, 40),
    ("closed form, every field", 75e-6, 31e3, 40),
]


def project(ranks, t_line, b, fields, per_write, g=None):
    g = g or WRITERS[ranks]
    w = ranks - 1 - (g if g > 1 else 0)          # workers
    wg = w / g
    rb = b * RANGE_S / t_line                    # bytes of one range
    d_g = wg * b / t_line                        # a writer's input, B/s
    b_eff = min(B_W, B_FS[ranks] / g)
    n_r = wg / RANGE_S                           # ranges a second per writer
    tau_range = 0.0 if per_write else BOXES_RANGE * fields * C_CALL
    tau_write = BOXES_WRITE * fields * C_CALL if per_write else 0.0
    per_range = rb / B_NET + 2 * rb / B_MEM + rb / b_eff + tau_range
    m = WRITE_S * rb / (rb / b_eff + tau_range)  # what its writes show it writes in 0.25 s
    # Rows kept for the next write (half the ranges in flight, on average),
    # moved to the batch's front once per write; a writer keeps less than
    # half its batch (HELD_MAX) and writes everything past that.
    held = min(0.5 * wg * AHEAD * rb, HELD_MAX) if per_write else 0.0
    f = F.get(g, 0.1)
    writes = d_g / m
    u_g = n_r * per_range + writes * (f + tau_write + held / B_MEM)
    rho = w * T_M[ranks] / RANGE_S
    u_0 = rho + (u_g if g == 1 else 0.0)
    e_io = 1.0 / max(1.0, u_g, u_0)
    t_wr = f + tau_write + m / b_eff + (m / rb) * tau_range
    stall = writes * max(0.0, t_wr - SLACK_S)
    o_send = (rb / B_MEM + 2e-6) / RANGE_S
    v = w * T_WORK * b / t_line                  # the file's bytes
    fill = v / POINT_BYTES_ALL / min(g * B_W, B_FS[ranks])
    s = START[ranks] + max(0.0, fill - SLACK_S)
    t_end = f + m / b_eff + CLOSE_S
    e = e_io / (1 + o_send + stall + (s + t_end + RANGE_S) / T_WORK)
    return e, u_g, m


def main():
    verbose = "--verbose" in sys.argv[1:]
    print("projected parallel efficiency (docs/scaling.md, \"A model of efficiency\")")
    print(f"{'job':28s} {'write calls':>11s} {'64':>7s} {'1024':>7s} {'16384':>7s}"
          f"   u_g at 16384")
    for name, t_line, b, fields in JOBS:
        for per_write in (False, True):
            cells = [project(r, t_line, b, fields, per_write) for r in (64, 1024, 16384)]
            print(f"{name:28s} {'per write' if per_write else 'per range':>11s} "
                  + " ".join(f"{100 * e:6.1f}%" for e, _, _ in cells)
                  + f"   {cells[2][1]:.2f}")
            if verbose:
                for r, (e, u, m) in zip((64, 1024, 16384), cells):
                    print(f"    {r:5d} ranks: u_g {u:.2f}, a write {m / 1e6:.0f} MB")
    e, u, _ = project(16384, 5e-3, 20.7e3, 40, True, g=512)
    print(f"ODE warm, every field, per write, 512 writers at 16384 ranks: {100 * e:.1f}% "
          f"(u_g {u:.2f})")


if __name__ == "__main__":
    main()
