"""CSDI-protocol imputation of JapaneseVowels (UEA; 12 LPC cepstrum coefficients of one
speaker uttering /ae/, 7 to 29 frames): whole series padded to 29 frames, 270 training and
370 held-out utterances. The lengths differ: the padded frames are unobserved
(``observed_mask`` 0, ``valid`` 0), so they are never targets in training or evaluation
and never count in a score; the network sees them as missing values.

The denoiser is the 1-D U-Net (as for sunspots and ArrowHead: 4 residual blocks of 64
channels, no downsampling, the twelve coefficients as input channels; 0.66M parameters).
Measured at 3000 steps, 32 draws, all 370 held-out utterances (docs/timeseries.md,
"JapaneseVowels and ArrowHead at the configs' 3000 steps"): CRPS 0.073 / 0.122 / 0.253 at
10 / 50 / 90% missing against linear interpolation's 0.093 / 0.148 / 0.470; MAE better at
90% (0.097 against 0.137) but 3% and 9% above linear interpolation's at 10% and 50%. Longer
training (12000 steps) and dropout 0.1 made it worse: with 270 short utterances the model
overfits.

The sampler is ancestral sampling at NFE 20 (the cost of the suite's default DPM-Solver++(2M)
at NFE 20): on the same checkpoint it lowers CRPS to 0.070 / 0.118 and MAE to 0.0261 /
0.0448 at 10 / 50% (DPM-Solver++(2M): 0.073 / 0.122 and 0.0278 / 0.0472), which beats
linear interpolation's MAE at 10% and leaves 50% 3.7% above it (1.4% at NFE 50). With
CSDI's own protocol, ancestral sampling at NFE 50 and 100 draws (`--set sampling.nfe=50`,
`--draws 100`: 7.8 times the cost), the 50% cell beats it too: MAE 0.04308 against
0.04323, CRPS 0.1115 against 0.1484 (one seed); docs/timeseries.md, "The sampler closes
most of the MAE gap"."""

from configs.timeseries import defaults


def get_config():
    c = defaults.get_config()
    c.data.name = "ts:japanese_vowels"
    c.data.kwargs = {}
    c.model.name = "unet1d"
    c.model.kwargs = dict(channels=64, channel_mults=(1,), num_res_blocks=4,
                          time_scale=250.0)
    c.sampling.sampler = "ancestral"
    c.eval.samplers = ("ancestral",)
    return c
