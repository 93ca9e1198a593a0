"""The promotion gate: compare a challenger with the champion and decide by a written policy."""
