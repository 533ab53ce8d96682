"""PostgREST's query language, evaluated over rows held as Python values."""
