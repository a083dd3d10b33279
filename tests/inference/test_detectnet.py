import numpy as np
import torch

from vision.inference.detectnet import NearestResize, cluster, detectnet_detections, normalize


def test_clustering_merges_same_class_boxes_that_mostly_overlap():
    boxes = np.array([[0, 0, 10, 10],     # A
                      [1, 0, 11, 10],     # 90 / 100 > 0.75 with A, same class: A grows to (0, 0, 11, 10)
                      [0, 0, 10, 10],     # another class over A: kept
                      [20, 20, 30, 30],   # apart: kept
                      [20, 20, 27.5, 30],  # 75 / 100 is not > 0.75: kept
                      [0, 0, 11, 9]],      # 99 / 110 = 0.9 with the grown A: merged into it
                     dtype=np.float32)
    labels = np.array([1, 1, 2, 1, 1, 1])
    scores = np.array([0.6, 0.9, 0.7, 0.55, 0.8, 0.5], dtype=np.float32)
    kept_boxes, kept_labels, kept_scores = cluster(boxes, labels, scores)
    np.testing.assert_array_equal(kept_boxes, [[0, 0, 11, 10], [0, 0, 10, 10], [20, 20, 30, 30],
                                               [20, 20, 27.5, 30]])
    np.testing.assert_array_equal(kept_labels, [1, 2, 1, 1])
    np.testing.assert_array_equal(kept_scores, np.float32([0.9, 0.7, 0.55, 0.8]))  # a merge keeps the best


def test_a_box_joins_the_first_earlier_cluster_it_overlaps():
    boxes = np.array([[0, 0, 10, 10],
                      [3, 0, 13, 10],   # 70 / 100 with the first: a second cluster
                      [1, 0, 12, 10]],  # 90 / 110 with both: merged into the first only
                     dtype=np.float32)
    kept_boxes, _, _ = cluster(boxes, np.array([1, 1, 1]), np.ones(3, np.float32))
    np.testing.assert_array_equal(kept_boxes, [[0, 0, 12, 10], [3, 0, 13, 10]])


def test_detectnet_takes_one_class_per_prior_over_the_threshold_and_clips():
    scores = torch.tensor([[0.1, 0.6, 0.3],     # class 1
                           [0.05, 0.45, 0.5],   # class 2 (0.45 is under the threshold)
                           [0.7, 0.2, 0.1],     # only BACKGROUND: nothing
                           [0.1, 0.45, 0.45]])  # nothing over the threshold
    boxes = torch.tensor([[-0.1, 0.0, 0.5, 0.5], [0.5, 0.5, 1.2, 1.0], [0, 0, 1, 1], [0, 0, 1, 1]])
    found = detectnet_detections(scores, boxes, (100, 200), threshold=0.5)
    assert found.labels.tolist() == [1, 2]
    np.testing.assert_allclose(found.scores, [0.6, 0.5])
    # x scaled by the width 200, y by the height 100; then clipped to [0, 199] x [0, 99] as detectNet does
    np.testing.assert_allclose(found.boxes, [[0, 0, 100, 50], [100, 50, 199, 99]])


def test_preprocessing_is_nearest_and_scales_to_minus_one_one():
    image = torch.arange(6 * 9, dtype=torch.uint8).reshape(1, 6, 9).expand(3, -1, -1)
    resized, _, _ = NearestResize(4)(image, torch.zeros(0, 4), torch.zeros(0))
    rows, columns = (np.arange(4) * 6 / 4).astype(int), (np.arange(4) * 9 / 4).astype(int)  # floor(i * scale)
    np.testing.assert_array_equal(resized[0], image[0][rows][:, columns])
    np.testing.assert_allclose(normalize(torch.tensor([0, 255], dtype=torch.uint8)), [-1.0, 1.0])
