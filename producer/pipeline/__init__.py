"""The local pipeline: the Glue job on a local Spark, the Athena queries on DuckDB."""
