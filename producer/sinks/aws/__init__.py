"""The AWS sinks: Firehose, Kinesis and S3, their clients and the error translation."""
