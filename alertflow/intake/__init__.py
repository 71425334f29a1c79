"""Intake: the ways a notification comes in. A publish is validated and planned (publish), its
audience and template looked up (audience); a bulk send is stored (batches) and fanned out in
chunks (fanout); a cron schedule fires bulk sends (scheduler); an Idempotency-Key answers a
repeated request (idempotency)."""
