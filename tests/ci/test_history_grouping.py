"""Cell history (OSSTest vocabulary) and axis reduction, on results as the farm publishes them."""

from __future__ import annotations

from tests.ci.world import result
from triage.ci.grouping import comparable_passing, describe, group
from triage.ci.history import judge_all, judge_cell

SIG = "a1b2c3d4e5f60718"


def test_regression_names_last_good_and_first_bad():
    rs = [result("hello-crc-kvm-x86_64", "passed", "r1", 1),
          result("hello-crc-kvm-x86_64", "build-failed", "r2", 2, sig=SIG, title="crc.c: error"),
          result("hello-crc-kvm-x86_64", "build-failed", "r2", 3, sig=SIG, title="crc.c: error")]
    v = judge_cell(rs)
    assert v is not None and v.state == "regression"
    assert (v.last_good, v.first_bad, v.first_bad_build) == ("r1", "r2", 2)
    # Only one failure at the new revision: retried before anything is said.
    assert judge_cell(rs[:2]).state == "awaiting-retry"  # type: ignore[union-attr]
    assert judge_cell(rs[:2], retry=False).state == "regression"  # type: ignore[union-attr]


def test_like_before_never_passed_and_flaky():
    cell = "hello-ring-xen-x86_64"
    fail = {"sig": SIG, "title": "ring.c: error"}
    rs = [result(cell, "build-failed", "r1", 1, **fail),  # type: ignore[arg-type]
          result(cell, "build-failed", "r1", 2, **fail)]  # type: ignore[arg-type]
    assert judge_cell(rs).state == "never-passed"  # type: ignore[union-attr]
    rs.append(result(cell, "build-failed", "r2", 3, **fail))  # type: ignore[arg-type]
    v = judge_cell(rs)
    assert v is not None and v.state == "like-before" and v.first_bad == "r1"
    flaky = [result(cell, "passed", "r0", 1),
             result(cell, "boot-failed", "r1", 2, **fail),  # type: ignore[arg-type]
             result(cell, "passed", "r1", 3)]
    f = judge_cell(flaky)
    assert f is not None and f.state == "passing" and f.flaky_now and f.flake_rate == 1.0
    assert not f.fixed_at  # a flake is not a fix
    # unsupported / environment results say nothing about the code
    assert judge_cell([result(cell, "environment", "r1", 1)]) is None
    assert judge_cell([result(cell, "unsupported", "r1", 1)]) is None


def test_axis_reduction_finds_the_fewest_values():
    cells = [f"hello-{lib}-{plat}-{arch}" for lib in ("base", "crc", "ring")
             for plat in ("kvm", "xen") for arch in ("x86_64", "arm64")]
    universe = {c: result(c, "passed", "r1", i) for i, c in enumerate(cells)}
    crc = [c for c in cells if "-crc-" in c]
    assert describe(crc, universe) == "library=crc"
    xen = [c for c in cells if "-xen-" in c]
    assert describe(xen, universe) == "platform=xen"
    arm_crc = ["hello-crc-kvm-arm64", "hello-crc-xen-arm64"]
    assert describe(arm_crc, universe) == "library=crc arch=arm64"
    odd = ["hello-crc-kvm-arm64", "hello-ring-xen-x86_64"]
    assert describe(odd, universe) == \
        "library=crc platform=kvm arch=arm64 or library=ring platform=xen arch=x86_64"
    assert describe(cells, universe) == "every cell"


def test_group_lists_cells_comparable_passes_and_flags_mixed_titles():
    rs = [result("hello-crc-kvm-x86_64", "passed", "r1", 1),
          result("hello-crc-xen-x86_64", "passed", "r1", 2),
          result("hello-base-kvm-x86_64", "passed", "r1", 3),
          result("hello-base-kvm-x86_64", "passed", "r2", 4)]
    for i, cell in enumerate(("hello-crc-kvm-x86_64", "hello-crc-xen-x86_64")):
        for k in range(2):
            rs.append(result(cell, "build-failed", "r2", 10 + 2 * i + k, sig=SIG,
                             title="crc.c:12: error: x undeclared"))
    verdicts = judge_all(rs)
    (g,) = group(verdicts)
    assert g.cells == ("hello-crc-kvm-x86_64", "hello-crc-xen-x86_64")
    assert g.description == "library=crc"
    assert g.comparable_passing == ("hello-base-kvm-x86_64",)
    assert (g.last_good, g.first_bad) == ("r1", "r2") and not g.mixed_titles
    assert comparable_passing(g.cells, verdicts) == g.comparable_passing
    rs += [result("hello-ring-kvm-x86_64", "build-failed", "r2", 30 + k, sig=SIG,
                  title="something else entirely") for k in range(2)]
    (g2,) = group(judge_all(rs))
    assert g2.mixed_titles and len(g2.titles) == 2
