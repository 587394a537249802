"""
bfloat16 weights and stochastic rounding
========================================

An MLP (64-64-10) learns scikit-learn's handwritten digits with :class:`fastgd.AdamW`
three times: on float32 weights, on bfloat16 weights rounded to nearest after every step,
and on bfloat16 weights rounded stochastically (``stochastic_rounding=True``). The
optimizer's state and arithmetic are float32 in all three; only the stored weights differ.

Rounding to nearest loses every update smaller than half a bfloat16 step (about 0.4% of
the weight), so late in training, when Adam's steps are small, the bfloat16 weights stop
moving and the training loss stalls. Stochastic rounding keeps those updates on average
and follows float32. ``bench/bench_lowp_accuracy.py`` measures the test accuracies over
five seeds (see the guide's "bfloat16 and float16 parameters" page).
"""

import matplotlib.pyplot as plt
import ml_dtypes

import fastgd
from fastgd import mlp

data = mlp.load_digits_split()
runs = {
    "float32": mlp.train(fastgd.AdamW, data, {"lr": 1e-3}, epochs=12, seed=0),
    "bfloat16, to nearest": mlp.train(fastgd.AdamW, data, {"lr": 1e-3}, epochs=12, seed=0,
                                      param_dtype=ml_dtypes.bfloat16),
    "bfloat16, stochastic": mlp.train(
        fastgd.AdamW, data, {"lr": 1e-3, "stochastic_rounding": True, "seed": 0},
        epochs=12, seed=0, param_dtype=ml_dtypes.bfloat16),
}

# %%
# The training loss per epoch and the test accuracy after each epoch:
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
for label, run in runs.items():
    epochs = range(1, len(run.history) + 1)
    left.plot(epochs, run.history.loss, label=label)
    right.plot(epochs, [100 * a for a in run.history.test_accuracy], label=label)
left.set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss")
right.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy")
right.legend()
fig.tight_layout()

for label, run in runs.items():
    print(f"{label:22s} test accuracy {100 * run.history.test_accuracy[-1]:.1f}%")
