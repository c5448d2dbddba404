"""`lagwatch demo`: the live demo pipeline on this machine's devstack, its traffic and incidents.

``run.py`` (the command and its steps), ``config.py`` (its names and the config
files it writes), ``traffic.py`` (orders written, consumer groups),
``debezium.py`` (the run's Debezium connector: registered, broken, repaired,
removed).
"""
