"""How much scheduling delay a timing bound in a test allows.

A bound in a test proves "bounded by the deadline, not hung": a hang would
take the dependency's own timeout (30 s and more) or forever.  It does not
prove speed; figures live in ``bench/``.  CI and users run the suite on busy
machines, so the slack on top of a deadline is a whole second.
"""

SLACK = 1.0
