"""Known structures as templates: cation substitution into a target chemical system.

A target system with elements E gets, for every substituting element X of E, the
templates whose elements contain the *frame* ``E - {X}`` and not X, and whose other
elements are all metals (the template's own cations); each of those becomes X, so the
result has exactly the elements E. Example: Zn-P-S with X = Zn takes every P-S compound
of the templates (KInP2S7, MnPS3, GaPS4, ...) and turns its K, In, Mn, Ga into Zn, keeping the
thiophosphate anion framework (PS4 tetrahedra, P2S6 and P2S7 units) that a data set
without any Zn-P-S ternary does not otherwise show. The cell is scaled isotropically to
the volume prior's V0 of the new composition (Å^3/atom), as for decorated prototypes;
the candidates are not minima and are relaxed by the build like every other candidate.

Analogues widen the frame: ``analogues={"P": ("As", "Sb"), "S": ("O", "Se", "Te")}``
lets an element of the same group stand in for a frame element, so thioarsenates,
phosphates and selenophosphates (Cu3AsS4, AlPO4, KAsSe2, ...) also become Zn-P-S
candidates, with the stand-in replaced by the frame element. Each frame element must then
be represented by exactly one element of the template (itself or one analogue).

Templates should come from a training split (``train.parquet`` of a ``--sources known``
build), so nothing held out for testing is seen through its substituted copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from pymatgen.core import Element, Structure

from chggen_kernels.chemsys import parse_chemsys
from chggen_kernels.datasets.external import structure_fingerprint
from chggen_kernels.datasets.sources import DEFAULT_MAX_ATOMS, SourceStructure, structure_id
from chggen_kernels.lattice import VolumePrior

__all__ = ["substituted_templates"]


def substituted_templates(
    chemsys: str | Sequence[str],
    templates: Iterable[tuple[str, Structure]],
    substitute: Sequence[str],
    volume_prior: VolumePrior,
    max_atoms: int = DEFAULT_MAX_ATOMS,
    analogues: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[SourceStructure]:
    """Candidates of ``chemsys`` made from ``templates`` ((template id, structure) pairs).

    ``substitute`` names the elements that may replace a template's other elements; only
    those inside ``chemsys`` are used. A template qualifies for X when it holds every
    element of the system but X (or, with ``analogues``, exactly one stand-in for each),
    does not hold X, and has at least one element outside that frame, all of them metals;
    templates over ``max_atoms`` sites or with disorder are skipped. Ids are deterministic
    and follow the template's content: ``structure_id("substituted", template id,
    template fingerprint, system, X)`` (plus the stand-ins when analogues are used), so a
    changed template file never hands a cached relaxation to another structure.
    """
    elements = parse_chemsys(chemsys)
    system = "-".join(elements)
    analogues = {k: tuple(v) for k, v in (analogues or {}).items()}
    chosen = [x for x in dict.fromkeys(substitute) if x in elements]
    pool = [(tid, s) for tid, s in templates if len(s) <= max_atoms and s.is_ordered]
    for x in chosen:
        frame = [el for el in elements if el != x]
        if not frame:
            continue
        for template_id, s in pool:
            present = {el.symbol for el in s.composition.elements}
            stand_ins = _stand_ins(frame, present, analogues)
            if stand_ins is None or x in present:
                continue
            rest = present - set(stand_ins)
            if not rest or not all(Element(el).is_metal for el in rest):
                continue  # only cations are substituted: no anion (N, O, Cl, Se) becomes X
            swaps = {t: f for t, f in stand_ins.items() if t != f}
            mapping = {Element(el): Element(x) for el in sorted(rest)}
            mapping.update({Element(t): Element(f) for t, f in swaps.items()})
            new = s.copy()
            new.replace_species(mapping)
            new.scale_lattice(volume_prior.volume_per_atom(new.composition) * len(new))
            swapped = sorted(f"{t}->{f}" for t, f in swaps.items())
            key = ("substituted", template_id, structure_fingerprint(s), system, x, *swapped)
            yield SourceStructure(
                structure_id(*key), new, "substituted",
                f"{template_id}:{'+'.join(sorted(rest))}->{x}"
                + "".join(f",{w}" for w in swapped),
            )


def _stand_ins(frame: Sequence[str], present: set[str],
               analogues: Mapping[str, Sequence[str]]) -> dict[str, str] | None:
    """Template element -> frame element, one per frame element; None if not possible."""
    out: dict[str, str] = {}
    for element in frame:
        found = [el for el in (element, *analogues.get(element, ())) if el in present]
        if len(found) != 1 or found[0] in out:
            return None
        out[found[0]] = element
    return out
