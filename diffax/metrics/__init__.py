"""Sample-quality metrics in pure JAX.

Images / features: Fréchet distance (with streaming statistics), KID, improved
precision and recall, Inception Score. Distributions: sliced Wasserstein, kernel MMD, energy
distance. Time series: CRPS from samples or quantiles, CSDI's CRPS / CRPS-sum and
masked MAE / RMSE, anomaly-detection F1 (with point adjustment), best F1 and AUC-PR.
Point clouds: Chamfer, exact and Sinkhorn EMD, and the set-level COV / MMD / 1-NNA.
Molecules: EDM's atom / molecule stability, rdkit validity and uniqueness.
Reconstructions: SSIM and PSNR.
See docs/metrics.md.
"""

from diffax.metrics.anomaly import (BestF1, accuracy, auc_pr, best_f1, f1_score, point_adjust,
                                    point_adjusted_f1, precision_recall_f1)
from diffax.metrics.assignment import linear_sum_assignment
from diffax.metrics.crps import crps_quantiles, crps_samples, weighted_quantile_loss
from diffax.metrics.frechet import (FeatureStatistics, feature_statistics,
                                    feature_statistics_from_batches,
                                    finalize_feature_statistics, frechet_distance,
                                    frechet_distance_from_features, init_feature_statistics,
                                    merge_feature_statistics, update_feature_statistics)
from diffax.metrics.inception_score import inception_score
from diffax.metrics.kid import kernel_inception_distance
from diffax.metrics.molecules import molecule_metrics
from diffax.metrics.point_cloud import chamfer_distance, earth_movers_distance, sinkhorn_emd
from diffax.metrics.point_cloud_generation import (coverage, minimum_matching_distance,
                                                   one_nn_accuracy, set_distance_matrix)
from diffax.metrics.precision_recall import precision_recall
from diffax.metrics.sliced_wasserstein import sliced_wasserstein
from diffax.metrics.ssim import psnr, ssim
from diffax.metrics.timeseries import (crps_quantile_csdi, crps_sum, masked_mae, masked_rmse,
                                       sample_median, sample_quantiles)
from diffax.metrics.timeseries_generation import (ClassAccuracy, DiscriminativeScore,
                                                  PredictiveScore,
                                                  conditional_class_accuracy,
                                                  discriminative_score, predictive_score)
from diffax.metrics.two_sample import energy_distance, mmd

__all__ = [
    "BestF1",
    "FeatureStatistics",
    "accuracy",
    "auc_pr",
    "best_f1",
    "chamfer_distance",
    "coverage",
    "crps_quantile_csdi",
    "crps_quantiles",
    "crps_samples",
    "crps_sum",
    "earth_movers_distance",
    "energy_distance",
    "f1_score",
    "feature_statistics",
    "feature_statistics_from_batches",
    "finalize_feature_statistics",
    "frechet_distance",
    "frechet_distance_from_features",
    "inception_score",
    "init_feature_statistics",
    "kernel_inception_distance",
    "linear_sum_assignment",
    "masked_mae",
    "masked_rmse",
    "merge_feature_statistics",
    "minimum_matching_distance",
    "mmd",
    "one_nn_accuracy",
    "point_adjust",
    "point_adjusted_f1",
    "precision_recall",
    "psnr",
    "precision_recall_f1",
    "sample_median",
    "sample_quantiles",
    "set_distance_matrix",
    "sinkhorn_emd",
    "sliced_wasserstein",
    "ssim",
    "update_feature_statistics",
    "weighted_quantile_loss",
]

__all__ += [
    "ClassAccuracy",
    "DiscriminativeScore",
    "PredictiveScore",
    "conditional_class_accuracy",
    "discriminative_score",
    "predictive_score",
]

__all__ += ["molecule_metrics"]
