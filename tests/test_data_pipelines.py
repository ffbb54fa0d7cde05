"""fit / evaluate / predict on data given batch by batch: generators, iterables of batches
(a torch DataLoader), dnnx.utils.PyDataset, steps_per_epoch / validation_steps / steps.
Held against the whole-array path (bitwise) and Keras 3 on JAX (epoch cutting)."""

import warnings

import numpy as np
import pytest

import dnnx
from dnnx import callbacks, layers
from keras_oracle import keras_or_skip as _keras

RNG = np.random.default_rng(21)
X = RNG.standard_normal((40, 4))
Y = RNG.integers(0, 3, 40)


def model(seed=0, dtype="float64", **compile_kw):
    m = dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dropout(0.2),
                         layers.Dense(3, activation="softmax")], seed=seed, dtype=dtype)
    kw = dict(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    kw.update(compile_kw)
    m.compile(**kw)
    return m


def gen(nb=10, bs=4, x=X, y=Y, sw=None):
    for i in range(nb):
        s = slice(i * bs, (i + 1) * bs)
        yield (x[s], y[s]) if sw is None else (x[s], y[s], sw[s])


class Counter(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.per_epoch = []

    def on_epoch_begin(self, epoch, logs=None):
        self.per_epoch.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.per_epoch[-1] += 1


def _same_weights(a, b):
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_generator_fit_is_bitwise_the_array_fit():
    sw = RNG.uniform(0.5, 2.0, 40)
    ref = model()
    h_ref = ref.fit(X, Y, sample_weight=sw, batch_size=4, epochs=1, shuffle=False, verbose=0)
    m = model()
    h = m.fit(gen(sw=sw), epochs=1, verbose=0)
    _same_weights(ref, m)
    assert h.history == h_ref.history  # running epoch means, as train_epoch reports them


def test_iterable_refits_every_epoch_and_matches_arrays():
    class Batches:  # re-iterable and sized, like a torch DataLoader
        def __len__(self):
            return 10

        def __iter__(self):
            return gen()

    ref = model()
    h_ref = ref.fit(X, Y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    m = model()
    h = m.fit(Batches(), epochs=3, verbose=0)
    _same_weights(ref, m)
    assert h.history == h_ref.history


def test_torch_dataloader():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset
    ds = TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
    loader = DataLoader(ds, batch_size=8, shuffle=False)
    ref = model()
    h_ref = ref.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    m = model()
    h = m.fit(loader, epochs=2, verbose=0, validation_data=loader)
    _same_weights(ref, m)
    assert h.history["loss"] == h_ref.history["loss"]
    assert h.history["val_loss"][-1] == m.evaluate(X, Y, batch_size=8, verbose=0)[0]
    np.testing.assert_array_equal(m.predict(loader, verbose=0), m.predict(X, verbose=0))
    assert m.evaluate(loader, verbose=0) == m.evaluate(X, Y, batch_size=8, verbose=0)


def test_evaluate_and_predict_on_generators_match_arrays():
    m = model()
    m.fit(X, Y, epochs=1, verbose=0)
    assert m.evaluate(gen(), verbose=0, return_dict=True) == m.evaluate(X, Y, batch_size=4, verbose=0,
                                                                          return_dict=True)
    np.testing.assert_array_equal(m.predict((x for x, _ in gen()), verbose=0), m.predict(X, verbose=0))
    # steps: only the first batches
    assert m.evaluate(gen(), steps=3, verbose=0) == m.evaluate(X[:12], Y[:12], batch_size=4, verbose=0)
    assert m.predict(gen(), steps=2, verbose=0).shape == (8, 3)
    assert m.predict(X, batch_size=4, steps=2, verbose=0).shape == (8, 3)
    assert m.evaluate(X, Y, batch_size=4, steps=3, verbose=0) == m.evaluate(X[:12], Y[:12], batch_size=4,
                                                                            verbose=0)


def _epoch_batches(fit, *args, **kw):
    c = Counter()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fit(*args, callbacks=[c], verbose=0, **kw)
    ran_out = sum("ran out of data" in str(x.message) for x in w)
    return c.per_epoch, ran_out


@pytest.mark.parametrize("spe,epochs", [(4, 3), (3, 4), (5, 2), (None, 1)])
def test_steps_per_epoch_on_generators_cuts_epochs_as_keras(spe, epochs):
    ours, warned = _epoch_batches(model().fit, gen(), epochs=epochs, steps_per_epoch=spe)
    keras = _keras()
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    k.compile("sgd", "sparse_categorical_crossentropy")

    class KCounter(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.per_epoch = []

        def on_epoch_begin(self, epoch, logs=None):
            self.per_epoch.append(0)

        def on_train_batch_end(self, batch, logs=None):
            self.per_epoch[-1] += 1

    kc = KCounter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k.fit(gen(), epochs=epochs, steps_per_epoch=spe, verbose=0, callbacks=[kc])
    assert ours == kc.per_epoch
    assert warned == (1 if spe and spe * epochs > 10 else 0)


def test_exhausted_generator_stops_training_with_a_warning():
    m = model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = m.fit(gen(), epochs=3, verbose=0)
    assert len(h.history["loss"]) == 1  # the second epoch got no batch: training stops


class Squares(dnnx.utils.PyDataset):
    def __init__(self, n=5, bs=8, **kw):
        super().__init__(**kw)
        self.n, self.bs = n, bs
        self.asked, self.epoch_ends, self.epoch_begins = [], 0, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.asked.append(i)
        s = slice(i * self.bs, (i + 1) * self.bs)
        return X[s], Y[s]

    def on_epoch_begin(self):
        self.epoch_begins += 1

    def on_epoch_end(self):
        self.epoch_ends += 1


def test_pydataset_fit_matches_arrays_and_calls_epoch_hooks():
    ds = Squares()
    ref = model()
    h_ref = ref.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    m = model()
    h = m.fit(ds, epochs=2, shuffle=False, verbose=0)
    _same_weights(ref, m)
    assert h.history == h_ref.history
    assert ds.asked == list(range(5)) * 2 and ds.epoch_ends == 2 and ds.epoch_begins == 2


def test_pydataset_shuffle_permutes_batches_each_epoch_and_threads_keep_order():
    ds = Squares()
    model().fit(ds, epochs=3, shuffle=True, verbose=0)
    passes = [ds.asked[i:i + 5] for i in range(0, 15, 5)]
    assert all(sorted(p) == list(range(5)) for p in passes) and len({tuple(p) for p in passes}) > 1
    threaded = Squares(workers=3, max_queue_size=2)
    ref = model()
    ref.fit(Squares(), epochs=2, shuffle=False, verbose=0)
    m = model()
    m.fit(threaded, epochs=2, shuffle=False, verbose=0)
    _same_weights(ref, m)


def test_pydataset_steps_per_epoch_as_keras():
    keras = _keras()

    class KSquares(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.asked = []

        def __len__(self):
            return 5

        def __getitem__(self, i):
            self.asked.append(i)
            return X[i * 8:(i + 1) * 8].astype(np.float32), Y[i * 8:(i + 1) * 8]

    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    k.compile("sgd", "sparse_categorical_crossentropy")
    kds = KSquares()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k.fit(kds, epochs=4, steps_per_epoch=2, shuffle=False, verbose=0)
    ds = Squares()
    counts, warned = _epoch_batches(model().fit, ds, epochs=4, steps_per_epoch=2, shuffle=False)
    assert counts == [2, 2, 1, 2] and warned == 1
    assert ds.asked == kds.asked[-len(ds.asked):]  # Keras may read batches ahead for its specs


def test_steps_per_epoch_on_arrays_continues_across_epochs():
    counts, warned = _epoch_batches(model().fit, X, Y, batch_size=4, epochs=3, steps_per_epoch=4, shuffle=False)
    assert counts == [4, 4, 2] and warned == 1
    # Two epochs of 5 steps over 10 batches: the same as one epoch of everything, then another
    ref = model()
    ref.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    m = model()
    m.fit(X, Y, batch_size=4, epochs=2, steps_per_epoch=5, shuffle=False, verbose=0)
    ref2 = model()
    ref2.fit(X[:20], Y[:20], batch_size=4, epochs=1, shuffle=False, verbose=0)
    ref2.fit(X[20:], Y[20:], batch_size=4, epochs=1, shuffle=False, verbose=0)
    _same_weights(ref, ref2)  # sanity: the split is the same batches
    _same_weights(ref, m)


def test_validation_generator_and_steps():
    m = model()
    h = m.fit(gen(), epochs=1, verbose=0, validation_data=gen(nb=10), validation_steps=3)
    assert h.history["val_loss"][0] == m.evaluate(X[:12], Y[:12], batch_size=4, verbose=0)[0]
    m = model()
    h = m.fit(X, Y, batch_size=4, epochs=2, validation_data=(X, Y), validation_steps=2, verbose=0, shuffle=False)
    assert len(h.history["val_loss"]) == 2


def test_class_weight_on_generators_weighs_each_batch():
    cw = {0: 2.0, 1: 0.5, 2: 1.0}
    ref = model()
    ref.fit(X, Y, batch_size=4, epochs=1, class_weight=cw, shuffle=False, verbose=0)
    m = model()
    m.fit(gen(), epochs=1, class_weight=cw, verbose=0)
    _same_weights(ref, m)


def test_unbuilt_sequential_builds_from_the_first_batch():
    m = dnnx.Sequential([layers.Dense(3, activation="softmax")], seed=0, dtype="float64")
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    m.fit(gen(), epochs=1, verbose=0)
    assert m.built and m.predict(gen(), verbose=0).shape == (40, 3)


def test_bad_batch_input_is_a_clear_error():
    m = model()
    with pytest.raises(ValueError, match="y is not supported when x is a generator"):
        m.fit(gen(), Y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="validation_split is only supported for arrays"):
        m.fit(gen(), epochs=1, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch must be None or a positive integer"):
        m.fit(gen(), epochs=1, steps_per_epoch=0, verbose=0)
    with pytest.raises(ValueError, match=r"each batch must be x, \(x,\), \(x, y\) or \(x, y, sample_weight\)"):
        m.fit(((X, Y, None, 1) for _ in range(2)), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="the data gave no batches"):
        m.evaluate(iter([]), verbose=0)

    class Endless(dnnx.utils.PyDataset):
        def __getitem__(self, i):
            return X[:4], Y[:4]

    with pytest.raises(ValueError, match="no __len__"):
        m.fit(Endless(), epochs=1, verbose=0)
    h = m.fit(Endless(), epochs=2, steps_per_epoch=3, verbose=0)
    assert len(h.history["loss"]) == 2
    with pytest.raises(ValueError, match="use_multiprocessing"):
        Squares(use_multiprocessing=True)


def test_generator_training_matches_keras_curve():
    """Same weights, same batches from a generator, SGD: the loss curves agree to float32 noise."""
    keras = _keras()
    x = RNG.standard_normal((64, 4)).astype(np.float32)
    y = RNG.integers(0, 3, 64)

    def g():
        for _ in range(3):
            for i in range(0, 64, 16):
                yield x[i:i + 16], y[i:i + 16]

    ours = dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(8, activation="tanh"),
                            layers.Dense(3, activation="softmax")], seed=4)
    ours.compile(optimizer=dnnx.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                          keras.layers.Dense(3, activation="softmax")])
    k.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    k.set_weights(ours.get_weights())
    h = ours.fit(g(), epochs=3, steps_per_epoch=4, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hk = k.fit(g(), epochs=3, steps_per_epoch=4, verbose=0)
    np.testing.assert_allclose(h.history["loss"], hk.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(h.history["accuracy"], hk.history["accuracy"], rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # jax arrays and NumPy 2's copy keyword
        theirs = k.get_weights()
    for a, b in zip(ours.get_weights(), theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
