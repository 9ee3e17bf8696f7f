"""The CDS Hooks 2.0 service (``eligibility serve``): an ASGI app over the trial library.

Import :func:`eligibility.service.app.create_app` and :class:`eligibility.service.settings.ServiceSettings`
to embed it. This package imports the core (``eligibility.api``, ``eligibility.io.fhir``,
``eligibility.library``); the core never imports it. The package itself imports nothing heavy, so the
command line starts fast.
"""
