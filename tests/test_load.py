"""The loader against hostile files: paths that are not files, cases that never hold,
definitions that use themselves or later ones, entries with the wrong number of indices.

Each refusal is a ``DerivationFormatError`` whose text says where and what.
(The parser's own refusals are in ``test_parse.py``.)
"""

import os

import pytest

from symce.errors import DerivationFormatError
from symce.read.files import derivation_paths
from symce.read.toml import load_derivation, loads_derivation

MINIMAL = '''
title = "t"
[symbols]
k = "symbolic"
indices = ["i", "j", "c"]
vectors = { z = "real" }
[[chains]]
name = "x"
start = "exp(z[i])"
steps = [{ expr = "exp(z[i])", reason = "nothing changes" }]
'''


def load(text):
    return loads_derivation(text, path="f.toml")


# --- paths -------------------------------------------------------------------------

def test_folder_whose_toml_entries_are_broken_links_is_refused(tmp_path):
    # Before: the dangling links were dropped silently and `symce check` passed
    # "0 of 0 steps" with exit 0 -- a pass for files that were never read.
    (tmp_path / "a.toml").symlink_to(tmp_path / "gone.toml")
    with pytest.raises(DerivationFormatError,
                       match=rf"^{tmp_path / 'a.toml'}: broken or looping symbolic link$"):
        derivation_paths([str(tmp_path)])


def test_broken_link_among_good_files_is_not_skipped(tmp_path):
    (tmp_path / "a.toml").write_text(MINIMAL)
    (tmp_path / "b.toml").symlink_to(tmp_path / "b.toml")  # a loop
    with pytest.raises(DerivationFormatError, match=r"b\.toml: broken or looping symbolic link$"):
        derivation_paths([str(tmp_path)])


def test_path_that_is_not_a_file_or_folder_says_so(tmp_path):
    with pytest.raises(DerivationFormatError, match=rf"^{os.devnull}: not a regular file or folder$"):
        derivation_paths([os.devnull])
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop)
    with pytest.raises(DerivationFormatError, match=r"loop\.toml: broken or looping symbolic link$"):
        derivation_paths([str(loop)])
    with pytest.raises(DerivationFormatError, match=r"^no/such\.toml: no such file or folder$"):
        derivation_paths(["no/such.toml"])


def test_loading_a_folder_or_a_device_says_what_it_is(tmp_path):
    with pytest.raises(DerivationFormatError, match=rf"^{tmp_path}: is a folder, not a derivation file$"):
        load_derivation(tmp_path)


# --- cases -------------------------------------------------------------------------

@pytest.mark.parametrize("case, message", [
    # Ne(i, i) once made every step of its chain "proved": KroneckerDelta(i, i) is 1,
    # and putting 0 for it replaced every 1 in the step.
    ("Ne(i, i)", r"f\.toml, cases\.a: 'Ne\(i, i\)' never holds for indices in 1\.\.k"),
    ("Eq(i, 0)", r"f\.toml, cases\.a: 'Eq\(i, 0\)' never holds for indices in 1\.\.k"),
    ("Eq(i, k + 5)", r"f\.toml, cases\.a: 'Eq\(i, k \+ 5\)' never holds for indices in 1\.\.k"),
    ("Ne(1, 1)", r"f\.toml, cases\.a: expected a relation between indices \(each side an index, or a number such "
                 r"as 1 or k\), found 'Ne\(1, 1\)'"),
    ("Eq(1, 2)", r"f\.toml, cases\.a: expected a relation between indices \(each side an index, or a number such "
                 r"as 1 or k\), found 'Eq\(1, 2\)'"),
    # Eq(i + 1, c) let the placements of i push c out of 1..k: a true step "failed" there.
    ("Eq(i + 1, c)", r"f\.toml, cases\.a: expected a relation between indices \(each side an index, or a "
                     r"number such as 1 or k\), found 'Eq\(i \+ 1, c\)'"),
    ("Eq(k, 3)", r"f\.toml, cases\.a: expected a relation between indices \(each side an index, or a number such "
                 r"as 1 or k\), found 'Eq\(k, 3\)'"),
])
def test_a_case_must_be_able_to_hold(case, message):
    text = MINIMAL.replace('[[chains]]', f'[cases]\na = "{case}"\n[[chains]]')
    with pytest.raises(DerivationFormatError, match=message):
        load(text)


def test_a_case_that_holds_somewhere_is_kept():
    text = MINIMAL.replace('[[chains]]', '[cases]\na = "Eq(i, k)"\nb = "Ne(i, c)"\n[[chains]]')
    assert [c.label for c in load(text).cases] == ["i = k", "i != c"]


def test_a_case_for_a_concrete_k_is_judged_at_that_k():
    text = MINIMAL.replace('k = "symbolic"', "k = 1").replace('[[chains]]', '[cases]\na = "Ne(i, c)"\n[[chains]]')
    with pytest.raises(DerivationFormatError, match=r"cases\.a: 'Ne\(i, c\)' never holds for indices in 1\.\.1"):
        load(text)


# --- definitions -------------------------------------------------------------------

@pytest.mark.parametrize("definitions, message", [
    ('"s[i]" = "s[i] + 1"', r"f\.toml, definitions\.'s\[i\]': 's' refers to itself"),
    ('L = "L + 1"', r"f\.toml, definitions\.'L': 'L' refers to itself"),
    ('L = "M"\nM = "L"', r"f\.toml, definitions\.'L': 'M' is defined later; a definition may use only "
                         r"the ones above it"),
])
def test_definitions_use_only_earlier_names_and_their_parameters(definitions, message):
    with pytest.raises(DerivationFormatError, match=message):
        load(MINIMAL.replace('[[chains]]', f'[definitions]\n{definitions}\n[[chains]]'))


def test_a_definition_may_use_the_files_own_indices():
    # c is one class throughout the file (as in onehot(y, c)), so "p = s[c]" is meaningful.
    text = MINIMAL.replace('[[chains]]', '[definitions]\n"s[i]" = "exp(z[i])"\np = "s[c] + Sum(z[j], (j, 1, k))"\n[[chains]]')
    assert [d.name for d in load(text).definitions] == ["s", "p"]


# --- entries and names -------------------------------------------------------------

@pytest.mark.parametrize("expr, message", [
    ("z[i, j]", r"f\.toml, chain 'x', step 1: 'z' takes 1 index, found 2 in z\[i, j\]"),
    ("s[i, j]", r"f\.toml, chain 'x', step 1: 's' takes 1 index, found 2 in s\[i, j\]"),
    ("z[0]", r"f\.toml, chain 'x', step 1: index 0 of z\[0\] is outside 1\.\.k"),
])
def test_entries_take_as_many_indices_as_declared(expr, message):
    text = MINIMAL.replace('[[chains]]', '[definitions]\n"s[i]" = "exp(z[i])"\n[[chains]]')
    with pytest.raises(DerivationFormatError, match=message):
        load(text.replace('expr = "exp(z[i])"', f'expr = "{expr}"'))


def test_literal_index_beyond_a_concrete_k_is_refused():
    text = MINIMAL.replace('k = "symbolic"', "k = 3").replace('expr = "exp(z[i])"', 'expr = "z[4]"')
    with pytest.raises(DerivationFormatError, match=r"chain 'x', step 1: index 4 of z\[4\] is outside 1\.\.3"):
        load(text)


def test_chain_name_must_not_be_empty():
    with pytest.raises(DerivationFormatError, match=r"f\.toml, chains\[0\]\.name: expected a name, found ''"):
        load(MINIMAL.replace('name = "x"', 'name = ""'))


@pytest.mark.parametrize("change, message", [
    (('vectors = { z = "real" }', 'vectors = { z = "real", "\uff59" = "real" }'),
     r"f\.toml, symbols\.vectors\.\uff59: expected a plain ASCII name, found '\uff59'"),
    (('indices = ["i", "j", "c"]', 'indices = ["i", "j", "c", "\u0430"]'),
     r"f\.toml, symbols\.indices\[3\]: expected a plain ASCII name, found '\u0430'"),
    # Python's parser folds the full-width s into s: this would define s, not what it shows.
    (('[[chains]]', '[definitions]\n"\uff53[i]" = "exp(z[i])"\n[[chains]]'),
     r"f\.toml, definitions\.'\uff53\[i\]': expected a name or name\[index, \.\.\.\] with declared indices"),
    (('title = "t"', 'title = "t"\nassumptions = ["simplex(\uff5a)"]'),
     r"f\.toml, assumptions\[0\]: expected onehot\(vector, index\) or simplex\(vector\), found 'simplex\(\uff5a\)'"),
])
def test_names_are_ascii(change, message):
    with pytest.raises(DerivationFormatError, match=message):
        load(MINIMAL.replace(*change))


# --- chains over a vector index (vector = "i") ---------------------------------------

def with_vector(vector: str, start: str = "exp(z[i])", extra: str = "") -> str:
    return MINIMAL.replace('[[chains]]', extra + '[[chains]]').replace(
        'name = "x"', f'name = "x"\nvector = {vector}').replace('start = "exp(z[i])"', f'start = "{start}"')


def test_vector_names_a_free_index_of_the_chain():
    chain = load(with_vector('"i"', start="Derivative(Sum(exp(z[j]), (j, 1, k)), z[i])")).chains[0]
    assert chain.vector_index.name == "i"
    assert load(MINIMAL).chains[0].vector_index is None


@pytest.mark.parametrize("vector, start, extra, message", [
    ('"q"', "exp(z[i])", "", r"^f\.toml, chain 'x', vector: expected a declared index, found 'q'$"),
    ('"z"', "exp(z[i])", "", r"^f\.toml, chain 'x', vector: expected a declared index, found 'z'$"),
    ('"j"', "exp(z[i])", "",
     r"^f\.toml, chain 'x', vector: index 'j' does not occur free in the chain \(its start is exp\(z\[i\]\)\)$"),
    ('"j"', "Sum(exp(z[j]), (j, 1, k))", "",  # bound by the sum, not free
     r"^f\.toml, chain 'x', vector: index 'j' does not occur free in the chain "
     r"\(its start is Sum\(exp\(z\[j\]\), \(j, 1, k\)\)\)$"),
    ('"i"', "i * z[i]", "",
     r"^f\.toml, chain 'x', vector: the start i\*z\[i\] uses 'i' other than as the index of an entry, "
     r"so it is not entry 'i' of a vector$"),
    ('"i"', "exp(z[i])", '[cases]\na = "Eq(i, c)"\n',
     r"^f\.toml, chain 'x', vector: the chain is checked only under the case i = c, "
     r"so it does not give every entry over 'i'$"),
    ('1', "exp(z[i])", "", r"^f\.toml, chains\[0\]\.vector: expected string, found integer$"),
    # A case that fixes the hot class (c = k) once let the row claim entries it never proved.
    ('"i"', "exp(z[i])", '[cases]\na = "Eq(c, k)"\n',
     r"^f\.toml, chain 'x', vector: the chain is checked only under the case c = k, "
     r"so it does not give every entry over 'i'$"),
])
def test_bad_vector_index_is_refused(vector, start, extra, message):
    text = with_vector(vector, start, extra)
    if extra:
        text = text.replace('vector = "i"', 'vector = "i"\ncase = "a"')
    with pytest.raises(DerivationFormatError, match=message):
        load(text)


def test_vector_needs_room_for_entries_1_c_and_k():
    with pytest.raises(DerivationFormatError,
                       match=r"^f\.toml, chain 'x', vector: the vector is shown by its entries 1, c and k, "
                             r"which needs k >= 3, found k = 2$"):
        load(with_vector('"i"').replace('k = "symbolic"', "k = 2"))
    assert load(with_vector('"i"').replace('k = "symbolic"', "k = 3")).chains[0].vector_index.name == "i"


def test_the_reference_gradient_is_a_vector_chain():
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "derivations" / "softmax_cross_entropy.toml"
    chains = {ch.name: ch.vector_index for ch in load_derivation(path).chains}
    assert chains["gradient"].name == "i" and chains["jacobian"].name == "i"
    assert chains["loss"] is None


def test_a_vector_over_the_hot_index_of_a_one_hot_is_refused():
    text = with_vector('"i"').replace('title = "t"', 'title = "t"\nassumptions = ["onehot(y, i)"]').replace(
        'vectors = { z = "real" }', 'vectors = { z = "real", y = "real" }')
    with pytest.raises(DerivationFormatError, match=r"^f\.toml, chain 'x', vector: 'i' is the hot index of a "
                                                     r"one-hot assumption"):
        load(text)


# --- issue 14: goal, date, prose around chains ------------------------------------------

GOAL_FILE = '''title = "t"
{top}
[symbols]
k = "symbolic"
indices = ["i", "j"]
vectors = {{ z = "real" }}
[definitions]
"s[i]" = "exp(z[i]) / Sum(exp(z[j]), (j, 1, k))"
[[chains]]
name = "x"
start = "s[i]"
steps = [{{ expr = "s[i]", reason = "same" }}]
{chain}
'''


def test_goal_date_and_prose_are_read():
    import datetime  # noqa: F401 - TOML reads the date itself

    d = loads_derivation(GOAL_FILE.format(top='date = 2026-12-01\ngoal = "Derivative(s[i], z[i]) = s[i]"',
                                          chain='text = "first `s[i]`\\n\\nsecond"\ntext_after = "done"'))
    assert d.date == "2026-12-01"
    assert str(d.goal) == "Eq(Derivative(s[i], z[i]), s[i])"
    assert len(d.chains[0].text) == 2 and d.chains[0].text[0][0] == "first "
    assert d.chains[0].text_after == (("done",),)


@pytest.mark.parametrize("top, message", [
    ('goal = "s[i]"', r"^f\.toml, goal: expected an equation 'lhs = rhs', found 's\[i\]'$"),
    ('goal = "s[i] = = 1"', r"^f\.toml, goal: at most one '=' or '!=' in one piece of math$"),
    ('goal = "s_i = 1"', r"^f\.toml, goal \(left side\): unknown name 's_i' \(entry i of s is written s\[i\]\) "
                         r"\(line 2, column 9\)$"),
    ('goal = "1 = s_i"', r"^f\.toml, goal \(right side\): unknown name 's_i' .* \(line 2, column 13\)$"),
    ('date = "yesterday"', r"^f\.toml, date: expected date, found string$"),
])
def test_bad_goals_and_dates_are_refused(top, message):
    # a goal's errors name the line and column of the offending text, as an expression's do
    with pytest.raises(DerivationFormatError, match=message):
        loads_derivation(GOAL_FILE.format(top=top, chain=""), path="f.toml")
