"""Everything that imports pytest: settings (options, ini keys, marker), terminal output, the
run-wide reporter."""
