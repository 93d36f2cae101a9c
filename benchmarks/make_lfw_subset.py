"""Make the labeled LFW subset used for clustering quality in docs/people.md.

    python benchmarks/make_lfw_subset.py ../shared/data/lfw/lfw-deepfunneled /tmp/lfwsub/photos

200 people with at least 3 photos (at most 20 each) and 300 people with a single photo
(distractors), drawn with a fixed seed; the photos are linked, not copied.
"""
import argparse
import os
import random


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lfw_images", help="the folder of <Name>/<Name>_0001.jpg")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    people = sorted(os.listdir(args.lfw_images))
    images = {p: sorted(os.listdir(os.path.join(args.lfw_images, p))) for p in people}
    random.seed(args.seed)
    chosen = (random.sample([p for p in people if len(images[p]) >= 3], 200)
              + random.sample([p for p in people if len(images[p]) == 1], 300))
    n = 0
    for p in chosen:
        os.makedirs(os.path.join(args.out, p), exist_ok=True)
        for f in images[p][:20]:
            link = os.path.join(args.out, p, f)
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(os.path.join(args.lfw_images, p, f)), link)
            n += 1
    print(f"{n} photos of {len(chosen)} people in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
