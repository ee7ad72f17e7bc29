"""Mutation testing of the pure core: ``make mutate`` runs mutmut, then ``python -m mutation``
prints the score per module ((killed + timeout) / (mutants - judged equivalent)).

The mutants judged equivalent (no input can tell them apart from the original) are listed in
``mutation/equivalent.txt``, each with one line saying why.
"""
