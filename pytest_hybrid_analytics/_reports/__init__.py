"""Reports: records of a run, the audit, JSON Lines, the HTML report (templates as package
files)."""
