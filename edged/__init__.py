"""edged: edge daemon for solar-powered community health centres (CSCOM).

Core package: configuration, the per-device runners, the composition root and the CLI.
"""

__version__ = "0.1.0"
