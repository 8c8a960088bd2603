"""What users read: the ranked table on the terminal and the self-contained HTML report."""
