"""Cluster data without labels: an autoencoder on the bundled digits, whose encoder (the
same layers, shared with the autoencoder) turns each image into a 10-number code that
k-means clusters (after standardizing each code dimension). The labels are only used at the end, to score the clusters with the
adjusted Rand index (1 = the digit classes exactly, 0 = chance), beside k-means on the raw
pixels.

    python examples/autoencoder_cluster.py [epochs]

k-means and the index come from scikit-learn when it is installed, else from the small
NumPy versions below.
"""

import sys

import numpy as np

import dnnx
from dnnx import layers


def build_models(n_features=64, code_size=10):
    pixels = dnnx.Input(shape=(n_features,), name="pixels")
    h = layers.Dense(128, activation="relu", name="enc_1")(pixels)
    h = layers.Dense(64, activation="relu", name="enc_2")(h)
    code = layers.Dense(code_size, name="code")(h)
    h = layers.Dense(64, activation="relu", name="dec_1")(code)
    h = layers.Dense(128, activation="relu", name="dec_2")(h)
    recon = layers.Dense(n_features, activation="sigmoid", name="reconstruction")(h)
    autoencoder = dnnx.Model(pixels, recon, name="autoencoder")
    encoder = dnnx.Model(pixels, code, name="encoder")  # shares the autoencoder's layers
    return autoencoder, encoder


def kmeans(x, k, seed=0, iters=100, restarts=10):
    try:
        from sklearn.cluster import KMeans
        return KMeans(n_clusters=k, n_init=restarts, random_state=seed).fit_predict(x)
    except ImportError:
        pass
    rng = np.random.default_rng(seed)
    best, best_inertia = None, np.inf
    for _ in range(restarts):
        centers = x[rng.choice(len(x), k, replace=False)]
        for _ in range(iters):
            labels = np.argmin(((x[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
            new = np.array([x[labels == j].mean(0) if np.any(labels == j) else centers[j] for j in range(k)])
            if np.allclose(new, centers):
                break
            centers = new
        inertia = ((x - centers[labels]) ** 2).sum()
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def adjusted_rand_index(a, b):
    try:
        from sklearn.metrics import adjusted_rand_score
        return float(adjusted_rand_score(a, b))
    except ImportError:
        pass
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    comb = lambda v: (v * (v - 1) / 2).sum()  # noqa: E731
    index, rows, cols, total = comb(table), comb(table.sum(1)), comb(table.sum(0)), comb(np.array([len(a)]))
    expected = rows * cols / total
    return float((index - expected) / ((rows + cols) / 2 - expected))


def main(epochs=200, verbose=0):
    dnnx.utils.set_random_seed(0)
    x, labels = dnnx.datasets.load_digits()
    x = x / 16.0
    autoencoder, encoder = build_models()
    autoencoder.compile(optimizer="adam", loss="mse")
    autoencoder.fit(x, x, batch_size=64, epochs=epochs, verbose=verbose)
    codes = encoder.predict(x)
    codes = (codes - codes.mean(0)) / codes.std(0)
    result = {"reconstruction_mse": autoencoder.evaluate(x, x, verbose=0),
              "ari_codes": adjusted_rand_index(labels, kmeans(codes, 10)),
              "ari_pixels": adjusted_rand_index(labels, kmeans(x, 10))}
    return (autoencoder, encoder), x, result


if __name__ == "__main__":
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    _, _, result = main(epochs, verbose=0)
    print(f"reconstruction MSE: {result['reconstruction_mse']:.4f}")
    print(f"adjusted Rand index, k-means on the 10-number codes: {result['ari_codes']:.3f}")
    print(f"adjusted Rand index, k-means on the 64 raw pixels:   {result['ari_pixels']:.3f}")
