"""The default benchmark sets (written by benchmarks/choose_benchmark_set.py).

Chosen from the held-out test split of the known-structures build (test.parquet, 476
crystals) by :func:`chggen_kernels.benchmark.choose_benchmark_set`: every target-system
crystal (Li-Si, Zn-P-S, Li-P-S) with at most 20 atoms, plus a random sample (seed
0) of the other formulas; for the host benchmark only crystals holding Li and another
element.
Ids and formulas only: the structures stay in the data file.
"""

from chggen_kernels.benchmark import SetEntry

__all__ = ["CSP_DEFAULT", "HOSTS_DEFAULT"]

CSP_DEFAULT: tuple[SetEntry, ...] = (
    SetEntry('37047839b8942836', 'Li2Si', 6,
             'target system Li-Si', 'mp-27705'),
    SetEntry('7b0679ff25d9cba8', 'Li3P', 8,
             'target system Li-P-S', 'mp-736'),
    SetEntry('446707dbb227ba57', 'Zn3P2', 10,
             'target system P-S-Zn', 'mp-7846'),
    SetEntry('2ad462a1747f8da5', 'LiP', 16,
             'target system Li-P-S', 'mp-9588'),
    SetEntry('6c84dc7e1bfe77a8', 'LiP', 2,
             'target system Li-P-S', 'JVASP-139380'),
    SetEntry('0a18d1399c2b5b8c', 'Li2PS3', 12,
             'target system Li-P-S', '0iv'),
    SetEntry('a261d63e09c3ed45', 'Ba(GeAs)2', 20,
             'random sample (seed 0) of the other formulas', 'A2BC2_tP20_105_f_ac_2e-001'),
    SetEntry('bc313680ba1df36a', 'ErNi', 8,
             'random sample (seed 0) of the other formulas', 'mp-567314'),
    SetEntry('b8155bdc98f13dc0', 'GaMo3', 8,
             'random sample (seed 0) of the other formulas', 'JVASP-14524'),
    SetEntry('8b755418c08332ac', 'Mg2RuRh', 4,
             'random sample (seed 0) of the other formulas', 'wbm-1-27065'),
    SetEntry('f2b634164ad0cad0', 'NdFeSn3', 5,
             'random sample (seed 0) of the other formulas', 'wbm-3-26996'),
    SetEntry('e283ee94c8d72161', 'TaZnOs2', 4,
             'random sample (seed 0) of the other formulas', 'JVASP-37415'),
)

HOSTS_DEFAULT: tuple[SetEntry, ...] = (
    SetEntry('37047839b8942836', 'Li2Si', 6,
             'target system Li-Si', 'mp-27705'),
    SetEntry('7b0679ff25d9cba8', 'Li3P', 8,
             'target system Li-P-S', 'mp-736'),
    SetEntry('2ad462a1747f8da5', 'LiP', 16,
             'target system Li-P-S', 'mp-9588'),
    SetEntry('6c84dc7e1bfe77a8', 'LiP', 2,
             'target system Li-P-S', 'JVASP-139380'),
    SetEntry('0a18d1399c2b5b8c', 'Li2PS3', 12,
             'target system Li-P-S', '0iv'),
    SetEntry('163e879b06d17ce4', 'Li3SbS4', 16,
             'random sample (seed 0) of the other formulas', 'mq1'),
    SetEntry('922448e08dae47e8', 'Li3Sn', 4,
             'random sample (seed 0) of the other formulas', 'JVASP-109989'),
    SetEntry('280ba15fd4d164ff', 'LiAg3', 4,
             'random sample (seed 0) of the other formulas', 'mp-862716'),
    SetEntry('b889fd16e03df6a5', 'LiBeOs2', 4,
             'random sample (seed 0) of the other formulas', 'JVASP-67748'),
    SetEntry('29cb55e799afa344', 'LiNiHg2Mo', 5,
             'random sample (seed 0) of the other formulas', 'agm001487184'),
)
