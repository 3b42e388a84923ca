"""Load testing: the library side of the locust swarm (locust itself is imported only by locustfile.py)."""
