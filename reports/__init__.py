"""Reports read from the store: how full things are, how fast they fill, when they run out."""
