"""Master side of the unikernel CI farm.

The matrix is data (``ci/matrix.toml``, loaded by :mod:`farm.matrix`); a cell is
(tree/app, library set, platform, arch). :mod:`farm.buildbot_config` turns the matrix and the
declared workers into Buildbot's ``c[...]``; ``ci/master.cfg`` only calls it. Pure modules
(matrix, fragments, routing, changes, table) import no Buildbot code so they stay cheap to test.
"""
