"""Pictures of a run: one self-contained HTML report from its summary and timeline."""
