"""Section ``peers``: jobman beside the other Django job systems, each draining the same
no-op jobs with one worker process on the same database.

Every system is a ``Peer`` (``base``) in a module of its own; ``catalogue`` lists them and
says which can run here; ``suite`` measures them in a process of its own, set up with
``bench.peers.settings``, which ``bench.sections.peers`` starts.
"""
