"""experiments.evaluation helpers on real data: the class accuracy that --mode=eval
reports for class-conditional Fashion-MNIST models."""

import numpy as np

from diffax.data import get_dataset
from experiments import evaluation


def test_class_accuracy_recognises_real_images_and_not_wrong_labels():
    test = get_dataset("fashion_mnist", split="test")
    x = test.x[:1000].astype(np.float32) / 127.5 - 1.0
    labels = np.asarray(test.label[:1000])
    right = evaluation.class_accuracy(x, labels)
    assert right["class_accuracy"] > 0.87 and right["class_accuracy_worst"] > 0.5
    wrong = evaluation.class_accuracy(x, (labels + 1) % 10)
    assert wrong["class_accuracy"] < 0.1
