"""The worker side of the xentriage CI farm.

``workers.boot`` boots one image and judges it from the console, ``workers.probe`` reports what
this machine can build and boot, ``workers.kconfig_check`` finds symbols Kconfig dropped, and
``workers.provision`` renders a Buildbot worker's ``buildbot.tac`` and systemd unit.
"""

ARCHES = ("x86_64", "arm64")
PLATFORMS = ("kvm", "xen", "linuxu", "firecracker")
