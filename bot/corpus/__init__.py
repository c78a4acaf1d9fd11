"""Reading digests: one parser per format, and the ingestion that writes them to the store."""
