"""The space contract the core reads (`eproxy_jax.space_protocol`): every registered space is
a `SearchSpace`; the capability checks agree with what each space defines (shape buckets:
NB101, the NDS and AnyNet spaces, TransNAS macro, NAS-Bench-MR; enumerable: NB201 and TransNAS micro)."""
from eproxy_jax.space_protocol import BucketedSpace, SearchSpace, is_bucketed, is_enumerable
from spaces import REGISTRY, load_space


def test_every_registered_space_meets_the_contract():
    bucketed, enumerable = set(), set()
    for name in sorted(REGISTRY):
        sp = load_space(name)
        assert isinstance(sp, SearchSpace), name
        assert is_bucketed(sp) == callable(getattr(sp, "bucket_of", None)), name
        if is_bucketed(sp):
            bucketed.add(name)
        if is_enumerable(sp):
            enumerable.add(name)
    assert {"nb101", "transnas-macro", "nbmr", "nds-darts", "nds-resnet"} <= bucketed
    assert not {"nb201", "nb301", "transnas-micro"} & bucketed
    assert enumerable == {"nb201", "transnas-micro"}


def test_a_plain_object_with_the_methods_is_bucketed():
    class Mine:   # no base class from this project: the check is structural
        def bucket_of(self, encodings):
            return [0] * len(encodings)

        def module(self, bucket=None):
            return None

        def feature_channels_of(self, bucket):
            return (8,)
    assert isinstance(Mine(), BucketedSpace) and not isinstance(object(), BucketedSpace)
