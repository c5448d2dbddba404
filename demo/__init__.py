"""`lagwatch demo`: the live demo pipeline on this machine's devstack, its traffic and incidents.

``run.py`` (the command and its steps), ``config.py`` (its names and the two
config files it writes), ``traffic.py`` (orders written, consumer groups).
"""
