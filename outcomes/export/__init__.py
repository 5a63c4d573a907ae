"""The evaluator export (DESIGN.md §3, data flow 7): anonymised participants, survey results
and weekly engagement as CSV files with a Frictionless data package and a codebook."""
