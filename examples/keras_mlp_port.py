"""The classic Keras "MNIST MLP" example, ported to dnnx.

Changes from the Keras script (everything else is line-for-line the same):
  1. ``from tensorflow import keras`` / ``from keras import ...`` -> ``import dnnx as keras``
     and ``from dnnx import layers``.
  2. ``keras.datasets.mnist.load_data()`` downloads; dnnx never downloads at run time, so
     the bundled 8x8 digits stand in (64 features instead of 784), split with
     ``dnnx.datasets.train_test_split``.
  3. ``keras.Input(shape=(784,))`` -> ``keras.Input(shape=(64,))`` to match that data.
"""

import sys

import dnnx as keras
from dnnx import layers

batch_size = 128
num_classes = 10
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 20

# the data, split between train and test sets
x, y = keras.datasets.load_digits()
x_train, x_test, y_train, y_test = keras.datasets.train_test_split(x, y, test_fraction=0.25, seed=0)
x_train = x_train.astype("float32") / 16
x_test = x_test.astype("float32") / 16
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")

# convert class vectors to binary class matrices
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

keras.utils.set_random_seed(1)
model = keras.Sequential(
    [
        keras.Input(shape=(64,)),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(num_classes, activation="softmax"),
    ]
)
model.summary()

model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])

history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=2,
                    validation_data=(x_test, y_test))
score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
