"""One module per suite, each with ``run(quick: bool) -> list[Record]``."""
