"""Torch side of benchmarks/inception_parity.py (run by an interpreter that has torch,
torchvision and pytorch-fid; diffax is not imported here).

Builds pytorch-fid's FID Inception with the seeded random state_dict of
inception_random_weights.py in place of the downloaded weights, runs it on seeded images
and writes the images, the resized input, pool3 and the 1008 logits to ``--out`` (npz).
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_fid import inception as pfid

from inception_random_weights import random_state_dict, seeded_images


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--resize", type=int, default=1, help="0: feed the images as they are")
    args = p.parse_args()
    torch.manual_seed(args.seed)

    probe = pfid._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    sd = random_state_dict({k: tuple(v.shape) for k, v in probe.state_dict().items()},
                           args.seed)
    sd = {k: torch.as_tensor(v) for k, v in sd.items()}
    pfid.load_state_dict_from_url = lambda *a, **k: sd     # no download: our weights
    full = pfid.fid_inception_v3().eval()
    wrapper = pfid.InceptionV3([3], resize_input=bool(args.resize),
                               normalize_input=False).eval()

    images = seeded_images(args.n, args.size, args.channels, args.seed)
    x = torch.as_tensor(images).permute(0, 3, 1, 2)
    if args.channels == 1:
        x = x.repeat(1, 3, 1, 1)
    with torch.no_grad():
        pool3 = wrapper(x)[0][:, :, 0, 0].numpy()
        resized = (F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
                   if args.resize else x)
        logits = full(resized).numpy()
    np.savez(args.out, images=images, pool3=pool3, logits=logits,
             resized=resized.permute(0, 2, 3, 1).numpy())
    print(f"torch {torch.__version__}: wrote {args.out}")


if __name__ == "__main__":
    main()
