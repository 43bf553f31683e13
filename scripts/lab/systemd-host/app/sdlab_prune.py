#!/usr/bin/env python3
"""sdlab-prune: the app's scheduled job, shipped as a systemd timer with its oneshot service (both enabled, the
service also WantedBy=multi-user.target, as apps ship them). Each run removes the uploads named *.expired in
$SDLAB_UPLOADS (default /srv/sdlab/uploads) and records the run in $SDLAB_UPLOADS/.last-prune (written whole,
then renamed): how many it removed, when, and on which host (a container's hostname is its id).
"""
import os
import socket
import time

UPLOADS = os.environ.get("SDLAB_UPLOADS", "/srv/sdlab/uploads")


def main():
    removed = 0
    for name in os.listdir(UPLOADS):
        if name.endswith(".expired"):
            try:
                os.unlink(os.path.join(UPLOADS, name))
                removed += 1
            except FileNotFoundError:
                pass
    tmp = os.path.join(UPLOADS, ".last-prune.part")
    with open(tmp, "w") as f:
        f.write(f"removed {removed} at {time.time():.3f} on {socket.gethostname()}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(UPLOADS, ".last-prune"))
    print(f"sdlab-prune: removed {removed}", flush=True)


if __name__ == "__main__":
    main()
