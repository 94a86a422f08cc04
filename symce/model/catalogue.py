"""The catalogue: the identities symce proves and exports, and the words for their choices.

Plain data with no SymPy in it, so that the command line can list the choices
(``symce prove --help``) without importing the algebra behind them.
"""

#: Assumptions on the target vector y, with the words a report uses for them.
ASSUMPTIONS = {
    "none": "nothing assumed about y",
    "simplex": "y sums to 1",
    "onehot": "y is one-hot at class c",
}
#: Target forms of dL/dz_i, written as a reader would.
FORMS = {
    "general": "dL/dz_i = s_i * sum_j y_j - y_i",
    "s-y": "dL/dz_i = s_i - y_i",
    "onehot": "dL/dz_i = s_i - [i = c]",
}
#: The form each assumption proves when no form is asked for.
DEFAULT_FORM = {"none": "general", "simplex": "s-y", "onehot": "onehot"}
#: Identities the prover knows, by CLI name.
IDENTITIES = ("softmax-ce",)
#: Losses ``symce export`` writes modules for (besides a derivation file with an [export] table).
EXPORTS = ("softmax-ce", "bce-with-logits", "mse")
