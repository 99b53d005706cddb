"""Uncertainty: bootstrap intervals, paired tests, multiple-comparison adjustment, repeats (docs: "Uncertainty")."""
