"""Mutation testing of the layer (`make mutation`): mutmut over each module, against the tests that cover it."""
