"""A locust swarm whose number of users follows a scenario's rate shape.

The users of ``locustfile.py``, plus a load shape: at each second, as many users as
the scenario's rate needs at ``--events-per-user`` each; the test ends after the
scenario's duration. The shape takes over ``-u``, ``-r`` and ``-t``:

    locust -f locustfile_shaped.py --host firehose://netflix-events --headless \\
           --scenario primetime-ramp --events-per-user 100 --records-per-batch 100

See docs/load-testing.md.
"""

from producer.loadtest.locust_users import FirehoseUser, KinesisUser, ScenarioShape

__all__ = ["FirehoseUser", "KinesisUser", "ScenarioFollower"]


class ScenarioFollower(ScenarioShape):
    """The scenario's rate shape, in users of --events-per-user events per second each."""
