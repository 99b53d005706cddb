"""Reports over stored results."""
