"""The spotting page: ``tempscore ui`` serves a local web page where an editor drops a rough cut,
watches it with the temp score, and steers the score on a timeline (cues, hit points, bar lines).

- :mod:`tempscore.ui.app`: the Starlette app (routes, upload checks, file routes);
- :mod:`tempscore.ui.jobs`: background jobs on disk, run through :func:`tempscore.api.score`;
- :mod:`tempscore.ui.timeline_edits`: the page's edits, written to ``<stem>.timeline.json``;
- :mod:`tempscore.ui.server`: binding the socket and running uvicorn;
- ``static/``: the page itself (plain HTML, CSS and JavaScript; no build step).

The web libraries (starlette, uvicorn) are imported only here, never by the CLI at start-up.
"""
