"""Wide & deep (Cheng et al., 2016) on a table with numeric and categorical columns: the
bundled Palmer penguins, predicting each penguin's sex from its species, island, year and
body measurements.

- wide: a linear model over the categorical IDs and their species x island cross (each an
  ``Embedding(levels, 1)``, i.e. one weight per level);
- deep: an 8-dimensional embedding per categorical column, concatenated with the
  standardized numeric columns, through two ReLU layers;
- the two logits are added and squashed by a sigmoid.

    python examples/wide_and_deep.py [epochs]
"""

import sys

import numpy as np

import dnnx
from dnnx import layers

CATEGORICAL = ["species", "island", "year"]
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def load_table():
    """Integer IDs for the categorical columns (and the species x island cross), the
    standardized numeric columns (statistics from the training rows) and the 0/1 target."""
    t = dnnx.datasets.load_penguins()
    keep = (t["sex"] != "") & np.all([~np.isnan(t[c]) for c in NUMERIC], axis=0)
    t = {k: v[keep] for k, v in t.items()}
    ids, vocab = [], {}
    for c in CATEGORICAL:
        levels, codes = np.unique(t[c], return_inverse=True)
        vocab[c] = len(levels)
        ids.append(codes)
    cross = ids[0] * vocab["island"] + ids[1]
    vocab["cross"] = vocab["species"] * vocab["island"]
    cat = np.stack(ids, axis=1).astype(np.int64)
    num = np.stack([t[c] for c in NUMERIC], axis=1)
    y = (t["sex"] == "male").astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    n_test = len(y) // 4
    te, tr = order[:n_test], order[n_test:]
    mean, std = num[tr].mean(0), num[tr].std(0)
    num = ((num - mean) / std).astype(np.float32)

    def part(idx):
        return {"categorical": cat[idx], "cross": cross[idx, None].astype(np.int64), "numeric": num[idx]}, y[idx]

    return part(tr), part(te), vocab


def build_model(vocab):
    categorical = dnnx.Input(shape=(len(CATEGORICAL),), dtype="int64", name="categorical")
    cross = dnnx.Input(shape=(1,), dtype="int64", name="cross")
    numeric = dnnx.Input(shape=(len(NUMERIC),), name="numeric")
    # one table for all categorical columns: column c's IDs are offset by the sizes before it
    n_levels = sum(vocab[c] for c in CATEGORICAL)
    wide_cat = layers.Flatten()(layers.Embedding(n_levels, 1, name="wide_levels")(categorical))
    wide_cross = layers.Flatten()(layers.Embedding(vocab["cross"], 1, name="wide_cross")(cross))
    wide = layers.Concatenate(name="wide_terms")([wide_cat, wide_cross, numeric])
    wide_logit = layers.Dense(1, name="wide")(wide)
    deep = layers.Flatten()(layers.Embedding(n_levels, 8, name="deep_embeddings")(categorical))
    deep = layers.Concatenate(name="deep_input")([deep, numeric])
    deep = layers.Dense(64, activation="relu", name="deep_1")(deep)
    deep = layers.Dense(32, activation="relu", name="deep_2")(deep)
    deep_logit = layers.Dense(1, name="deep")(deep)
    logit = layers.Add(name="wide_plus_deep")([wide_logit, deep_logit])
    output = layers.Activation("sigmoid", name="male")(logit)
    return dnnx.Model([categorical, cross, numeric], output, name="wide_and_deep")


def offset_ids(x, vocab):
    """Shift each categorical column into its own range of the shared embedding table."""
    offsets = np.cumsum([0] + [vocab[c] for c in CATEGORICAL[:-1]])
    return dict(x, categorical=(x["categorical"] + offsets).astype(np.int64))


def main(epochs=60, verbose=0):
    dnnx.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test), vocab = load_table()
    x_train, x_test = offset_ids(x_train, vocab), offset_ids(x_test, vocab)
    model = build_model(vocab)
    model.compile(optimizer=dnnx.optimizers.Adam(learning_rate=3e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=verbose)
    result = model.evaluate(x_test, y_test, return_dict=True, verbose=0)
    return model, (x_test, y_test), result


if __name__ == "__main__":
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    model, _, result = main(epochs, verbose=2)
    model.summary()
    print(f"test accuracy: {result['accuracy']:.4f}")
