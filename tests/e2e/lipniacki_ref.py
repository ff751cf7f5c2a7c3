"""An independent transcription of the Lipniacki et al. 2008 T-cell model
(J. Theor. Biol. 254:110) for checking jobs/networks/lipniacki2008.yaml:
the paper's 37 ODEs in its own numbering (y1..y37, two pMHC types, every
species a state, no conservation law used), written species by species from
the paper's scheme, not from the network file. Rates per second.

steady_from_rest() integrates from the unstimulated state (no complex, every
enzyme inactive) to t = 1e7 s, which is what the example job asks of kpsweep
(every point cold); steady_near() refines a steady state with Newton (scipy
fsolve) on the ODEs with one conservation law in place of one equation per
law, for finite differences along a branch.
"""
import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import fsolve

TOTALS = {"TCR": 3e4, "LCK": 1e5, "ZAP": 1e5, "MEK": 1e5, "ERK": 3e5, "SHP": 3e5}
RATES = {"b1": 0.3 / 3e4, "lb": 0.3 / 1e5, "ly2": 0.3, "ly1": 5 / 3e5, "ls2": 0.5 / 3e5,
         "ls1": 0.1, "tp": 0.05, "s0": 1e-5, "s1": 30 / 3e5, "s2": 6e-4, "s3": 0.05,
         "z0": 2e-6, "z1": 5 / 1e5, "z2": 0.02, "m1": 5 / 1e5, "m2": 0.02, "e1": 5 / 3e5,
         "e2": 0.02}
# the network file's totals under their names there
NET_TOTALS = {"TCRT": "TCR", "LCKT": "LCK", "SHPT": "SHP", "ERKT": "ERK"}

# y index (1-based) of pMHC type i's species: free pMHC, TCR-pMHC, LCK-TCR-pMHC,
# LCKs-, LCKy-, LCKsy-, LCKy-pTCR-, LCKsy-pTCR-, LCKy-ppTCR-, LCKsy-ppTCR-pMHC
BLOCK = [range(1, 11), range(11, 21)]
SHP_BOUND = [(23, 24), (25, 26)]   # pSHP-TCR-pMHC_i, pSHP-LCK-TCR-pMHC_i


def params(**override):
    p = dict(TOTALS)
    p.update(RATES)
    for k, v in override.items():
        p[NET_TOTALS.get(k, k)] = v
    return p


def rhs(y0, p, tau):
    """dy/dt of the 37 species; y0 is y1..y37 as a 0-based array."""
    y = np.concatenate([[0.0], y0])
    dy = np.zeros_like(y)
    lb, ly1, ly2, ls1, ls2, tp = (p[k] for k in ("lb", "ly1", "ly2", "ls1", "ls2", "tp"))
    s0, s1, s2, s3 = (p[k] for k in ("s0", "s1", "s2", "s3"))
    erk, shp, free_tcr, lck = y[37], y[29], y[21], y[27]
    for i in (0, 1):
        d, b = 1.0 / tau[i], p["b1"]
        L, X, K, Ks, Ky, Ksy, Kyp, Ksyp, Kypp, Ksypp = BLOCK[i]
        SX, SK = SHP_BOUND[i]
        complexes = [X, K, Ks, Ky, Ksy, Kyp, Ksyp, Kypp, Ksypp]
        with_lck = complexes[1:]
        unshielded = [K, Ky, Kyp, Kypp]  # LCK without serine 59: SHP-1 can bind
        dy[L] = d * (sum(y[k] for k in complexes) + y[SX] + y[SK]) - b * free_tcr * y[L]
        dy[X] = b * y[L] * free_tcr + (s2 + s3) * y[SX] - (d + lb * lck + ly1 * shp) * y[X]
        dy[K] = (lb * lck * y[X] + ls1 * y[Ks] + (s2 + s3) * y[SK]
                 - (d + ly2 + ls2 * erk + ly1 * shp) * y[K])
        dy[Ks] = ls2 * erk * y[K] - (d + ly2 + ls1) * y[Ks]
        dy[Ky] = ly2 * y[K] + ls1 * y[Ksy] - (d + tp + ls2 * erk + ly1 * shp) * y[Ky]
        dy[Ksy] = ly2 * y[Ks] + ls2 * erk * y[Ky] - (d + tp + ls1) * y[Ksy]
        dy[Kyp] = tp * y[Ky] + ls1 * y[Ksyp] - (d + tp + ls2 * erk + ly1 * shp) * y[Kyp]
        dy[Ksyp] = tp * y[Ksy] + ls2 * erk * y[Kyp] - (d + tp + ls1) * y[Ksyp]
        dy[Kypp] = tp * y[Kyp] + ls1 * y[Ksypp] - (d + ls2 * erk + ly1 * shp) * y[Kypp]
        dy[Ksypp] = tp * y[Ksyp] + ls2 * erk * y[Kypp] - (d + ls1) * y[Ksypp]
        dy[SX] = ly1 * shp * y[X] - (s2 + s3 + d) * y[SX]
        dy[SK] = ly1 * shp * sum(y[k] for k in unshielded) - (s2 + s3 + d) * y[SK]
        dy[21] += d * sum(y[k] for k in complexes) - b * y[L] * free_tcr
        dy[22] += d * (y[SX] + y[SK])
        dy[27] += d * (sum(y[k] for k in with_lck) + y[SK]) - lb * y[X] * lck
        activating = y[Ky] + y[Kyp] + y[Kypp]
        dy[28] -= s1 * activating * y[28]
        dy[29] += s1 * activating * y[28] - ly1 * sum(y[k] for k in [X] + unshielded) * shp
        dy[30] -= p["z1"] * (y[Kypp] + y[Ksypp]) * y[30]
        dy[31] += p["z1"] * (y[Kypp] + y[Ksypp]) * y[30]
    bound_shp = sum(y[22:27])
    dy[21] += (s2 + s3) * y[22] - ly1 * shp * free_tcr
    dy[22] += ly1 * shp * free_tcr - (s2 + s3) * y[22]
    dy[28] += s2 * (shp + bound_shp) - s0 * y[28]
    dy[29] += s3 * bound_shp - ly1 * free_tcr * shp - s2 * shp + s0 * y[28]
    dy[30] += p["z2"] * y[31] - p["z0"] * y[30]
    dy[31] += p["z0"] * y[30] - p["z2"] * y[31]
    m1, m2, e1, e2 = p["m1"], p["m2"], p["e1"], p["e2"]
    dy[32] = m2 * y[33] - 2 * m1 * y[31] * y[32]
    dy[33] = 2 * m1 * y[31] * y[32] + 2 * m2 * y[34] - m2 * y[33] - m1 * y[31] * y[33]
    dy[34] = m1 * y[31] * y[33] - 2 * m2 * y[34]
    dy[35] = e2 * y[36] - 2 * e1 * y[34] * y[35]
    dy[36] = 2 * e1 * y[34] * y[35] + 2 * e2 * y[37] - e2 * y[36] - e1 * y[34] * y[36]
    dy[37] = e1 * y[34] * y[36] - 2 * e2 * y[37]
    return dy[1:]


def rest(p, L):
    """The unstimulated state: free pMHC, free TCR, every enzyme inactive."""
    y = np.zeros(38)
    y[1], y[11] = L
    y[21], y[27], y[28], y[30], y[32], y[35] = (p[k] for k in ("TCR", "LCK", "SHP", "ZAP", "MEK", "ERK"))
    return y[1:]


def conserved(y0, p, L):
    """(index of the equation replaced, residual) of each conservation law."""
    y = np.concatenate([[0.0], y0])
    laws = []
    for i in (0, 1):
        laws.append((BLOCK[i][0], sum(y[k] for k in BLOCK[i]) + sum(y[k] for k in SHP_BOUND[i]) - L[i]))
    laws.append((21, sum(y[k] for k in list(range(2, 11)) + list(range(12, 27))) - p["TCR"]))
    laws.append((27, sum(y[k] for k in list(range(3, 11)) + list(range(13, 21)) + [24, 26, 27]) - p["LCK"]))
    laws.append((28, sum(y[22:27]) + y[28] + y[29] - p["SHP"]))
    laws.append((30, y[30] + y[31] - p["ZAP"]))
    laws.append((32, y[32] + y[33] + y[34] - p["MEK"]))
    laws.append((35, y[35] + y[36] + y[37] - p["ERK"]))
    return laws


def steady_from_rest(p, tau, L):
    s = solve_ivp(lambda t, y: rhs(y, p, tau), (0.0, 1e7), rest(p, L), method="LSODA",
                  rtol=1e-10, atol=1e-8)
    return s.y[:, -1]


def steady_near(p, tau, L, guess):
    def g(y):
        r = rhs(y, p, tau)
        for k, res in conserved(y, p, L):
            r[k - 1] = res
        return r
    y, _, ok, msg = fsolve(g, guess, xtol=1e-13, full_output=True)
    # "xtol too small" is the answer at round-off; judge by the residual
    if ok != 1 and np.abs(g(y)).max() > 1e-7:
        raise RuntimeError(msg)
    return y


def from_network(names, state, p, L):
    """The paper's y (0-based array) of a network-file state (kpsweep solve --json)."""
    y = np.zeros(38)
    at = dict(zip(names, state))
    for i in (0, 1):
        _, X, K, Ks, Ky, Ksy, Kyp, Ksyp, Kypp, Ksypp = BLOCK[i]
        names_i = {f"X[{i}]": X, f"Ku[{i},0]": K, f"Ku[{i},1]": Ks, f"Ky[{i},0,0]": Ky,
                   f"Ky[{i},1,0]": Ksy, f"Ky[{i},0,1]": Kyp, f"Ky[{i},1,1]": Ksyp,
                   f"Ky[{i},0,2]": Kypp, f"Ky[{i},1,2]": Ksypp,
                   f"SX[{i}]": SHP_BOUND[i][0], f"SK[{i}]": SHP_BOUND[i][1]}
        for n, k in names_i.items():
            y[k] = at.get(n, 0.0)
    for n, k in (("ST", 22), ("pSHP", 29), ("ZAPp", 31), ("pMEK", 33), ("ppMEK", 34),
                 ("pERK", 36), ("ppERK", 37)):
        y[k] = at[n]
    for k, res in conserved(y[1:], p, L):
        y[k] -= res  # the eliminated species: what the law leaves
    return y[1:]
