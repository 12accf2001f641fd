"""``python -m localtask``: the same command line as ``localtask``."""
from .cli import main

if __name__ == "__main__":
    main()
