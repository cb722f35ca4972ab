"""The job queue: the API's arq client and the embedded Redis. The one place in app/ that talks to arq."""
