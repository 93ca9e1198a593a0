"""The catch-up experiment: a year of an incumbent's daily fine-tunes against challengers."""
