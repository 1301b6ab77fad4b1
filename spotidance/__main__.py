"""``python -m spotidance``: the same as the ``spotidance`` command."""

from spotidance.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
