"""Verify: what a step means, probes, the step checker, the identity prover, time limits.

``meaning`` unfolds definitions, assumptions and cases into one expression;
``probe`` evaluates it at chosen points; ``steps`` decides each step of a
derivation (in a worker limited by ``timelimit``); ``identity`` proves the
softmax cross-entropy gradient component by component.
"""
