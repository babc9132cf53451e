"""Stampside: the chairside companion for a connected microneedling derma stamp.

Everything installs under this one name. In the repository the code keeps its folders
(``firmware_protocol/``, ``devicelink/``, ``simulator/``, ``app/``, ``docs/``); this folder holds
links to them, so ``stampside.app`` here is ``app/`` there, and the wheel carries real copies.
"""


def __getattr__(name: str) -> str:
    # Looked up on demand: importing importlib.metadata would slow every start of the app.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("stampside")
        except PackageNotFoundError:  # a checkout that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'stampside' has no attribute {name!r}")
