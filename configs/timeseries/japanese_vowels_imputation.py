"""CSDI imputation of JapaneseVowels (UEA; 12 LPC cepstrum coefficients of one speaker
uttering /ae/, 7 to 29 frames): whole series padded to 29 frames, 270 training and 370
held-out utterances. The lengths differ: the padded frames are unobserved
(``observed_mask`` 0, ``valid`` 0), so they are never targets in training or evaluation
and never count in a score; the network sees them as missing values. The feature
transformer sees the twelve coefficients of each frame."""

from configs.timeseries import defaults


def get_config():
    c = defaults.get_config()
    c.data.name = "ts:japanese_vowels"
    c.data.kwargs = {}
    return c
