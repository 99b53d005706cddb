"""Tasks turn data into generation requests and score what comes back."""
