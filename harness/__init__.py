"""edgebench: separable vs standard convolution, measured on real devices beside the theory.

This module must stay import-free: the runner bundle pushed to devices includes it.
"""

__version__ = "0.1.0"
