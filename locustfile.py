"""Locust swarms of Netflix-style viewers shipping playback events to Firehose or Kinesis.

A short adapter over the library (the library never imports locust):

    locust -f locustfile.py --host firehose://netflix-events                     # web UI
    locust -f locustfile.py --host firehose://netflix-events --headless -u 50 -r 10 -t 5m --csv out
    locust -f locustfile.py --master --expect-workers 4 --host firehose://netflix-events
    locust -f locustfile.py --worker --master-host 10.0.0.1                     # on each host

Each task takes one batch of the worker's realistic events and sends it with
PutRecordBatch (or PutRecords), built, signed and sent over urllib3 (with ``--transport
botocore``, through a boto3 client), with the library's retry and dead-letter logic.
It fires exactly one locust ``request`` event per batch, whose response time covers
every attempt. A batch with records still failing after their retries is a failure
carrying the error code. Records accepted, retried, throttled
and dead-lettered are counted per worker, reported to the master, printed at the end,
written with ``--netflix-summary PATH`` and shown at ``/netflix-producer`` in the web UI.
"""

from producer.loadtest.locust_users import FirehoseUser, KinesisUser

__all__ = ["FirehoseUser", "KinesisUser"]
