"""The model: events, the wire, ingestion envelopes, persons, wording. Pure, no I/O."""
