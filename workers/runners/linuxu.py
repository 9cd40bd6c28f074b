"""linuxu: the image is a native Linux executable that wants a terminal on stdin."""

from __future__ import annotations

import os

from workers.host import native_arch
from workers.runners import Availability, BootRequest, LaunchSpec


class LinuxuRunner:
    name = "linuxu"

    def availability(self, arch: str) -> Availability:
        if arch != native_arch():
            return Availability(False, f"no capable booter for linuxu/{arch}: linuxu images "
                                       f"run natively and this host is {native_arch()}")
        return Availability(True, "native executable on a pseudo-terminal", "native")

    def launch(self, req: BootRequest) -> LaunchSpec:
        avail = self.availability(req.arch)
        if not avail.ok:
            raise RuntimeError(avail.reason)
        if not os.access(req.image, os.X_OK):
            raise RuntimeError(f"{req.image} is not executable")
        # A pty from Python (process.run_streaming) rather than `script`, so no bsdutils needed.
        return LaunchSpec(argv=[str(req.image.resolve())], use_pty=True, accel="native")
