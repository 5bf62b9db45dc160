"""The three ways a HybridBlock runs, for tests that check they agree: eagerly, compiled
after hybridize(), and hybridized on the numpy interpreter (MINIGLUON_JIT=0)."""
import minigluon as mg

MODES = ["eager", "compiled", "interpreted"]


def make_block(cls, mode: str, monkeypatch, *args, **kwargs):
    """cls(*args, **kwargs), hybridized unless mode is eager (the interpreter for
    'interpreted')."""
    monkeypatch.setenv("MINIGLUON_JIT", "0" if mode == "interpreted" else "1")
    block = cls(*args, **kwargs)
    block.hybridize(mode != "eager")
    return block


class Body(mg.gluon.HybridBlock):
    """A block whose hybrid_forward is body(F, *the inputs given): up to three inputs."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def hybrid_forward(self, F, a, b=None, c=None):
        return self.body(F, *(x for x in (a, b, c) if x is not None))
