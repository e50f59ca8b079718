import numpy as np
import pytest

from training.metrics import confusion_matrix, from_confusion


def test_hand_computed_confusion() -> None:
    # 3-class example worked out by hand:
    #            pred0 pred1 pred2
    # true0        3     1     0      recall 3/4
    # true1        1     1     0      recall 1/2
    # true2        0     1     3      recall 3/4
    cm = np.array([[3, 1, 0], [1, 1, 0], [0, 1, 3]])
    m = from_confusion(cm, labels=("a", "b", "c"))
    assert m["n"] == 10
    assert m["accuracy"] == pytest.approx(7 / 10)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2 + 3 / 4) / 3)
    # precision: a 3/4, b 1/3, c 3/3; f1: a 0.75, b 2*(1/3*1/2)/(1/3+1/2)=0.4, c 2*0.75/1.75
    assert m["per_class"]["b"]["precision"] == pytest.approx(1 / 3)
    assert m["per_class"]["b"]["f1"] == pytest.approx(0.4)
    assert m["macro_f1"] == pytest.approx((0.75 + 0.4 + 1.5 / 1.75) / 3)


def test_confusion_from_labels_and_absent_class() -> None:
    cm = confusion_matrix(np.array([0, 0, 1]), np.array([0, 1, 1]), n=3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    m = from_confusion(cm, labels=("a", "b", "c"))
    # class c never occurs in the truth: it is left out of the balanced accuracy
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.array([0, 1]), np.array([0]))
