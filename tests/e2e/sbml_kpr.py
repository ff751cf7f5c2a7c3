"""Writes kinetic proofreading (N steps, 2 ligand types) as SBML with libSBML's
Python bindings: the SBML twin of the built-in kpr for tests/e2e/test_sbml.py."""
import libsbml


def kpr_document(N=3, extra=None):
    doc = libsbml.SBMLDocument(3, 1)
    m = doc.createModel()
    m.setId("kpr_sbml")
    c = m.createCompartment()
    c.setId("cell"), c.setSize(1.0), c.setConstant(True), c.setSpatialDimensions(3)
    for pid, v in (("kappa", 1e-4), ("phi", 0.09), ("R_T", 1e4), ("koff1", 0.25), ("koff2", 1.0)):
        p = m.createParameter()
        p.setId(pid), p.setValue(v), p.setConstant(True)

    def species(sid, amount=0.0):
        s = m.createSpecies()
        s.setId(sid), s.setCompartment("cell"), s.setInitialAmount(amount)
        s.setHasOnlySubstanceUnits(True), s.setBoundaryCondition(False), s.setConstant(False)

    species("R")
    ia = m.createInitialAssignment()
    ia.setSymbol("R"), ia.setMath(libsbml.parseL3Formula("R_T"))
    # Mass action through a function definition (inlined by the importer).
    fd = m.createFunctionDefinition()
    fd.setId("ma2"), fd.setMath(libsbml.parseL3Formula("lambda(k, a, b, k * a * b)"))
    for i in (1, 2):
        species(f"L{i}")
        for n in range(N + 1):
            species(f"C{n}_{i}")

    def reaction(rid, reactants, products, law):
        r = m.createReaction()
        r.setId(rid), r.setReversible(False), r.setFast(False)
        for s in reactants:
            sr = r.createReactant()
            sr.setSpecies(s), sr.setStoichiometry(1), sr.setConstant(True)
        for s in products:
            sr = r.createProduct()
            sr.setSpecies(s), sr.setStoichiometry(1), sr.setConstant(True)
        r.createKineticLaw().setMath(libsbml.parseL3Formula(law))

    for i in (1, 2):
        reaction(f"bind_{i}", ["R", f"L{i}"], [f"C0_{i}"], f"ma2(kappa, R, L{i})")
        for n in range(N):
            reaction(f"step{n}_{i}", [f"C{n}_{i}"], [f"C{n + 1}_{i}"], f"phi * C{n}_{i}")
        for n in range(N + 1):
            reaction(f"off{n}_{i}", [f"C{n}_{i}"], ["R", f"L{i}"], f"koff{i} * C{n}_{i}")
    if extra:
        extra(m)
    return doc


def write(path, N=3, extra=None):
    doc = kpr_document(N, extra)
    assert libsbml.writeSBMLToFile(doc, path) == 1
    return path
