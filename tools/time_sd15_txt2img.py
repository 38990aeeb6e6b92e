"""Times diffusers' StableDiffusionPipeline end to end on a full-size SD 1.5 folder, as
`diffuse txt2img` runs it: 20 steps of Euler ancestral (EulerAncestralDiscreteScheduler from
the folder's scheduler config), 512x512, guidance 7.5, seed 1, batch 1, float32 on CPU with the
given threads. Prints wall time and peak resident memory (ru_maxrss) as JSON.

Usage: python tools/time_sd15_txt2img.py DIR [--threads 2] [--steps 20] [--variant fp16]
(DIR: e.g. the random-weight folder of tools/make_sd_fixtures.py --full-size DIR)
"""

import argparse
import json
import resource
import time

import torch
from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionPipeline


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--variant", default="fp16", help="weight-file variant (the random folder stores fp16 files)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(args.folder, variant=args.variant, torch_dtype=torch.float32,
                                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    loaded = time.perf_counter()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        pipe("a lighthouse on a cliff at sunset", num_inference_steps=args.steps, guidance_scale=7.5,
             height=512, width=512, generator=generator, output_type="np")
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"load_seconds": loaded - start, "generate_seconds": done - loaded, "peak_resident_mb": peak}))


if __name__ == "__main__":
    main()
