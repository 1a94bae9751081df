"""Foundations every layer may use and that use nothing of affectlab: errors, file I/O, paths,
the registry type, memory and process helpers, optional-extra checks, what a target is
(``targets``), where chunked work runs (``compute``) and the package version.

``affectlab.core`` imports no other affectlab package (an import-linter contract holds it).
"""
