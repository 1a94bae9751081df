"""The package's version, here so that any layer can record it (run summaries, feature
manifests) without importing the package root and its flows; ``affectlab.__version__`` re-exports it.

>>> import affectlab
>>> affectlab.__version__ == __version__
True
"""

__version__ = "0.1.0"
