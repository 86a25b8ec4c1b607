"""Demo relying parties that log in through the IdP."""
