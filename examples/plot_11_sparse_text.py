"""
Sparse text: which package is this line from?
==============================================

A real sparse classification problem that needs no download: the source lines of the
Python standard library that ships with this interpreter, each labelled by the top-level
package it comes from (``email``, ``json``, ``asyncio``, ...), hashed into ``2**16``
columns with scikit-learn's ``HashingVectorizer``. The matrix is CSR, about 0.015 %
dense; fastgd trains on it without ever densifying it (see the guide's "Sparse data"
page).

We fit a multinomial logistic regression with :class:`fastgd.sklearn.GDClassifier`
(``loss="log_loss"``: one softmax model over all the classes, trained with Adagrad on
mini-batches: its per-feature step sizes give rare hashed columns larger steps) and
scikit-learn's ``SGDClassifier(loss="log_loss")`` (one-vs-rest, per-sample SGD) on the
same training rows, and compare held-out accuracy and fit time.
"""

import pathlib
import sysconfig
import time
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

from fastgd.sklearn import GDClassifier

STDLIB = pathlib.Path(sysconfig.get_paths()["stdlib"])
PACKAGES = ["asyncio", "concurrent", "email", "encodings", "html", "http", "importlib",
            "json", "logging", "multiprocessing", "sqlite3", "unittest", "urllib", "xml",
            "xmlrpc", "zoneinfo", "tomllib", "wsgiref", "ctypes", "curses"]
PER_PACKAGE = 4000          # at most this many lines from each package

rng = np.random.default_rng(0)
lines, labels = [], []
for package in PACKAGES:
    folder = STDLIB / package
    if not folder.is_dir():
        continue
    found = []
    for path in sorted(folder.rglob("*.py")):
        if "test" in path.relative_to(folder).parts[:-1]:
            continue                      # leave the packages' own tests out
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if len(line) >= 20 and not line.startswith("#"):
                found.append(line)
    if len(found) < 500:
        continue
    take = rng.choice(len(found), min(PER_PACKAGE, len(found)), replace=False)
    lines += [found[i] for i in take]
    labels += [package] * len(take)
labels = np.array(labels)
print(f"{len(lines)} lines from {len(set(labels))} packages")
print(Counter(labels.tolist()).most_common())

# %%
# Hash the lines: word tokens (identifiers, keywords) and word pairs.
vectorizer = HashingVectorizer(n_features=2**16, ngram_range=(1, 2),
                               token_pattern=r"(?u)\b\w+\b", alternate_sign=False)
X = vectorizer.transform(lines)
X_train, X_test, y_train, y_test = train_test_split(X, labels, test_size=0.25,
                                                    random_state=0, stratify=labels)
print(f"X: {X.shape[0]} x {X.shape[1]}, {X.nnz} stored values "
      f"({X.nnz / X.shape[0]:.1f} a row, density {X.nnz / np.prod(X.shape):.1e})")

# %%
# Fit both. fastgd's multinomial model has 2**16 x n_classes weights; each optimizer
# step updates all of them (the exact path: the gradient costs O(stored values of the
# batch x classes), the step O(weights)), so large batches keep the steps few.
results = {}
models = {
    "fastgd GDClassifier (softmax, Adagrad)": GDClassifier(
        loss="log_loss", optimizer="adagrad", lr=1.0, batch_size=1024, max_iter=5,
        tol=None, penalty=None, alpha=0.0, random_state=0),
    "scikit-learn SGDClassifier (OvR, SGD)": SGDClassifier(
        loss="log_loss", alpha=1e-6, max_iter=5, tol=None, random_state=0),
}
for name, model in models.items():
    t0 = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - t0
    accuracy = model.score(X_test, y_test)
    results[name] = (accuracy, seconds)
    print(f"{name}: held-out accuracy {accuracy:.3f}, fit {seconds:.2f} s")

# %%
# Held-out accuracy and fit time, side by side.
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
names = list(results)
left.barh(names, [results[n][0] for n in names], color=["C0", "C1"])
left.set(xlabel="held-out accuracy", xlim=(0, 1))
right.barh(names, [results[n][1] for n in names], color=["C0", "C1"])
right.set(xlabel="fit time (s)")
right.set_yticks([])
fig.tight_layout()
