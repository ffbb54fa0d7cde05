"""A two-tower recommender as a subclassed ``Model``: a user tower and an item tower
(Embedding, then Dense) whose outputs meet in a concatenation with their elementwise
product, scored by a Dense head.

Layers are attributes, the computation is ``call(inputs)`` on a dict of ID inputs, as in
Keras. dnnx traces ``call()`` once when the model first sees data, so ``fit`` still trains
whole epochs in C++ (the int64 IDs stay integers end to end).

The data are synthetic: ratings from hidden user and item factors. The class is made by a
function of the library so the same code runs under Keras 3 (``two_tower_class(keras)``).

    python examples/two_tower_recommender.py [epochs]
"""

import sys

import numpy as np


def two_tower_class(keras):
    """``TwoTower`` written against ``keras`` (dnnx or Keras 3)."""

    @keras.saving.register_keras_serializable(package="examples")
    class TwoTower(keras.Model):
        def __init__(self, n_users, n_items, dim=16, **kwargs):
            super().__init__(**kwargs)
            self.n_users, self.n_items, self.dim = n_users, n_items, dim
            self.user_embedding = keras.layers.Embedding(n_users, dim)
            self.item_embedding = keras.layers.Embedding(n_items, dim)
            self.user_tower = keras.layers.Dense(dim, activation="relu")
            self.item_tower = keras.layers.Dense(dim, activation="relu")
            self.flatten = keras.layers.Flatten()
            self.interact = keras.layers.Multiply()
            self.join = keras.layers.Concatenate()
            self.hidden = keras.layers.Dense(dim, activation="relu")
            self.score = keras.layers.Dense(1)

        def call(self, inputs):
            u = self.user_tower(self.flatten(self.user_embedding(inputs["user"])))
            i = self.item_tower(self.flatten(self.item_embedding(inputs["item"])))
            h = self.join([u, i, self.interact([u, i])])
            return self.score(self.hidden(h))

        def get_config(self):
            return {**super().get_config(), "n_users": self.n_users, "n_items": self.n_items, "dim": self.dim}

    return TwoTower


def ratings(n=4000, n_users=50, n_items=40, seed=0):
    """({"user", "item"} int64 (n, 1) IDs, ratings (n, 1) float32) from rank-3 hidden factors."""
    rng = np.random.default_rng(seed)
    pu, qi = rng.standard_normal((n_users, 3)), rng.standard_normal((n_items, 3))
    u, i = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    r = (pu[u] * qi[i]).sum(1) + 0.1 * rng.standard_normal(n)
    return {"user": u[:, None].astype(np.int64), "item": i[:, None].astype(np.int64)}, r[:, None].astype(np.float32)


def main(epochs=15, verbose=0):
    import dnnx
    dnnx.utils.set_random_seed(0)
    x, y = ratings()
    model = two_tower_class(dnnx)(50, 40)
    model.compile(optimizer="adam", loss="mse")
    cut = 3200
    train = {k: v[:cut] for k, v in x.items()}
    test = {k: v[cut:] for k, v in x.items()}
    model.fit(train, y[:cut], batch_size=64, epochs=epochs, verbose=verbose)
    mse = model.evaluate(test, y[cut:], verbose=0)
    print(f"held-out mse: {mse:.4f} (rating variance {float(y[cut:].var()):.4f})")
    return model, mse


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
