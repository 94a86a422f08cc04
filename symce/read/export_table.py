"""Read a derivation file's ``[export]`` table: what ``symce export FILE`` prints as code.

Kept apart from ``toml.py`` so that the loader gains one line for it. The table names
the function, its inputs and three chains of the same file::

    [export]
    name = "temperature_cross_entropy"
    inputs = ["z", "y", "T"]      # declared vectors (arrays, classes last) and scalars
    loss = "loss"                 # the chain whose start is the loss
    gradient = "gradient"         # its start is Derivative(<the loss>, z[i]); its last step is exported
    stable = "stable_loss"        # optional: its start is the loss, its last step the form printed
"""

from __future__ import annotations

import sympy

from ..model.derivation import Chain, ExportSpec

_EXPORT = {"name": str, "inputs": list, "loss": str, "gradient": str, "stable": str}


def export_table(loader, data: dict, chains: tuple[Chain, ...], definitions: tuple) -> ExportSpec:
    """Validate ``data`` against the file's symbols and chains; errors name ``export.<key>``."""
    loader.table(data, "export", _EXPORT, ("name", "inputs", "loss", "gradient"))
    if not (data["name"].isascii() and data["name"].isidentifier()):
        raise loader.error("export.name", f"expected a Python identifier, found {data['name']!r}")
    defined = {d.name for d in definitions}
    scalars = {n for n, v in loader.names.items()
               if isinstance(v, sympy.Symbol) and v not in loader.indices and n != "k" and n not in defined}
    allowed = set(loader.declared_vectors) | scalars
    inputs = []
    for n, name in enumerate(data["inputs"]):
        where = f"export.inputs[{n}]"
        loader.typed(name, where, str)
        if name not in allowed:
            raise loader.error(where, f"expected a declared vector or scalar, found {name!r}")
        if name in inputs:
            raise loader.error(where, f"{name!r} is listed twice")
        inputs.append(name)
    by_name = {c.name: c for c in chains}
    for key in ("loss", "gradient", "stable"):
        if key in data and data[key] not in by_name:
            raise loader.error(f"export.{key}", f"expected one of the chains {sorted(by_name)}, found {data[key]!r}")
    loss = by_name[data["loss"]].start
    start = by_name[data["gradient"]].start
    if not (isinstance(start, sympy.Derivative) and start.expr == loss and len(start.variables) == 1
            and isinstance(start.variables[0], sympy.Indexed)
            and str(start.variables[0].base.label) in inputs):
        raise loader.error("export.gradient", f"expected a chain starting Derivative({loss}, v[i]) with v "
                                              f"one of the inputs, found start {start}")
    if "stable" in data and by_name[data["stable"]].start != loss:
        raise loader.error("export.stable", f"expected a chain starting at the loss {loss}, "
                                            f"found start {by_name[data['stable']].start}")
    return ExportSpec(name=data["name"], inputs=tuple(inputs), loss=data["loss"], gradient=data["gradient"],
                      stable=data.get("stable"))
