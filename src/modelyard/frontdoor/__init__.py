"""What every front door (api/, gitserve/, xet/, and the web pages to come) shares, so that none imports another.

- `access`: the action each route declares, and the dependency that loads a repository through the one policy;
- `deps`: what routes need from a request (the hub, the actor, bounded JSON bodies, absolute URLs);
- `errors`: the one mapping of domain errors to the Hub's statuses, `X-Error-Code` and `X-Error-Message`;
- `request_id`: the `X-Request-Id` of every response and log line;
- `streaming`: large bodies in both directions (paced responses, zero-copy files, request bodies to disk);
- `file_responses`: how a stored file is answered (an LFS blob, a plain copy, a Xet reconstruction).
"""
