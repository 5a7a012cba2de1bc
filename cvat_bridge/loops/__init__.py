"""The closed loop: a model scores a CVAT project's frames, the least certain go to people in a review task,
their answers come back through a signed webhook (or polling), a new version is trained, compared with the
scoring version on the same validation images, and deployed when it is not worse.

strategies.py   uncertainty scores and selection (margin, least confidence, entropy, random)
store.py        the Loop and LoopRound rows: create, read, conditional state changes
cvat_review.py  CVAT work of a round: scoring frames, the review task, auto tags, webhook, job state
compare.py      both models scored on the new version's validation images
steps.py        the round's steps as jobs (runner.HANDLERS) and ``advance`` (the polling fallback)
webhook.py      the signature check of CVAT's deliveries
"""
