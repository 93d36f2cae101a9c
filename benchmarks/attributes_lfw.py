"""Sanity of the age, gender and expression estimates on LFW, using photoface's own detections.

LFW has no age, gender or expression labels. This benchmark uses what can be known:
- gender of well-known people (public record), per face and per person (majority);
- age against public birth years: LFW's news photos were taken in 2002-2004, so the true
  age of a face is birth year + 2003 +- about 1.5 years;
- stability: for every person with at least --min-photos photos, the share of their faces
  that agree with their own majority gender (needs no labels);
- the distribution of expressions over all faces of those people.

Usage: python benchmarks/attributes_lfw.py CACHE_DB [--lfw DIR] [--min-photos 10] [--json OUT]
CACHE_DB is the labeled-*/faces.db that `photoface eval cluster --labeled LFW --cache DIR` built.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import time
from collections import Counter, defaultdict

import numpy as np

# (gender, birth year) from public biographies
KNOWN = {
    "George_W_Bush": ("male", 1946), "Colin_Powell": ("male", 1937), "Tony_Blair": ("male", 1953),
    "Donald_Rumsfeld": ("male", 1932), "Gerhard_Schroeder": ("male", 1944), "Ariel_Sharon": ("male", 1928),
    "Hugo_Chavez": ("male", 1954), "Junichiro_Koizumi": ("male", 1942), "Jean_Chretien": ("male", 1934),
    "John_Ashcroft": ("male", 1942), "Serena_Williams": ("female", 1981), "Jacques_Chirac": ("male", 1932),
    "Vladimir_Putin": ("male", 1952), "Gloria_Macapagal_Arroyo": ("female", 1947),
    "Luiz_Inacio_Lula_da_Silva": ("male", 1945), "Jennifer_Capriati": ("female", 1976),
    "Lleyton_Hewitt": ("male", 1981), "Laura_Bush": ("female", 1946), "Alejandro_Toledo": ("male", 1946),
    "Arnold_Schwarzenegger": ("male", 1947), "Hans_Blix": ("male", 1928), "Tom_Daschle": ("male", 1947),
    "Kofi_Annan": ("male", 1938), "Megawati_Sukarnoputri": ("female", 1947), "Andre_Agassi": ("male", 1970),
    "Nestor_Kirchner": ("male", 1950), "Venus_Williams": ("female", 1980), "Silvio_Berlusconi": ("male", 1936),
    "Tom_Ridge": ("male", 1945), "Vicente_Fox": ("male", 1942), "Roh_Moo-hyun": ("male", 1946),
    "Alvaro_Uribe": ("male", 1952), "Hillary_Clinton": ("female", 1947), "John_Negroponte": ("male", 1939),
    "Guillermo_Coria": ("male", 1982), "Juan_Carlos_Ferrero": ("male", 1980), "Jiang_Zemin": ("male", 1926),
    "Mahmoud_Abbas": ("male", 1935), "Bill_Clinton": ("male", 1946), "Michael_Bloomberg": ("male", 1942),
    "Condoleezza_Rice": ("female", 1954), "Dick_Cheney": ("male", 1941), "Jennifer_Aniston": ("female", 1969),
    "Jennifer_Lopez": ("female", 1969), "Nicole_Kidman": ("female", 1967), "Pete_Sampras": ("male", 1971),
    "Michael_Schumacher": ("male", 1969), "Kim_Clijsters": ("female", 1983), "Amelie_Mauresmo": ("female", 1979),
    "Julianne_Moore": ("female", 1960), "Angelina_Jolie": ("female", 1975), "Meryl_Streep": ("female", 1949),
    "Tiger_Woods": ("male", 1975), "Lindsay_Davenport": ("female", 1976), "Martha_Stewart": ("female", 1941),
    "Halle_Berry": ("female", 1966), "Renee_Zellweger": ("female", 1969), "Britney_Spears": ("female", 1981),
    "Salma_Hayek": ("female", 1966), "Catherine_Zeta-Jones": ("female", 1969), "Winona_Ryder": ("female", 1971),
    "Gwyneth_Paltrow": ("female", 1972), "Nancy_Pelosi": ("female", 1940), "Jennifer_Garner": ("female", 1972),
    "Cameron_Diaz": ("female", 1972), "Madonna": ("female", 1958), "Paul_Bremer": ("male", 1941),
    "Igor_Ivanov": ("male", 1945), "Pervez_Musharraf": ("male", 1943), "Atal_Bihari_Vajpayee": ("male", 1924),
    "Recep_Tayyip_Erdogan": ("male", 1954), "Saddam_Hussein": ("male", 1937), "Jose_Maria_Aznar": ("male", 1953),
    "Carlos_Menem": ("male", 1930), "Queen_Elizabeth_II": ("female", 1926), "Jeb_Bush": ("male", 1953),
    "Gray_Davis": ("male", 1942), "Howard_Dean": ("male", 1948), "John_Kerry": ("male", 1943),
    "Joe_Lieberman": ("male", 1942), "John_Edwards": ("male", 1953), "Rudolph_Giuliani": ("male", 1944),
    "George_Robertson": ("male", 1946), "Jack_Straw": ("male", 1946), "Ricardo_Lagos": ("male", 1938),
    "Lance_Armstrong": ("male", 1971), "David_Beckham": ("male", 1975), "Jackie_Chan": ("male", 1954),
    "Richard_Myers": ("male", 1942), "Naomi_Watts": ("female", 1968), "Ari_Fleischer": ("male", 1960),
    "Mahathir_Mohamad": ("male", 1925), "Abdullah_Gul": ("male", 1950), "Yoriko_Kawaguchi": ("female", 1941),
    "Bill_Gates": ("male", 1955), "Fidel_Castro": ("male", 1926), "Sarah_Jessica_Parker": ("female", 1965),
    "Hamid_Karzai": ("male", 1957), "Norah_Jones": ("female", 1979), "Eduardo_Duhalde": ("male", 1941),
    "Dominique_de_Villepin": ("male", 1953), "Keanu_Reeves": ("male", 1964), "Tim_Henman": ("male", 1974),
    "Carlos_Moya": ("male", 1976), "Roger_Federer": ("male", 1981), "Justine_Henin": ("female", 1982),
    "Anna_Kournikova": ("female", 1981), "Mariah_Carey": ("female", 1969), "Ralf_Schumacher": ("male", 1975),
    "Jelena_Dokic": ("female", 1983), "Wen_Jiabao": ("male", 1942), "Hu_Jintao": ("male", 1942),
    "Yasser_Arafat": ("male", 1929), "Gordon_Brown": ("male", 1951), "Kim_Dae-jung": ("male", 1924),
    "Jesse_Jackson": ("male", 1941), "Al_Gore": ("male", 1948), "Julie_Gerberding": ("female", 1955),
}
PHOTO_YEAR = 2003


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cache_db")
    ap.add_argument("--min-photos", type=int, default=10)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from photoface.config import Settings
    from photoface.pipeline import AttributeJob, PipelineSpec, attributes_for_photos
    from photoface.types import Detection

    conn = sqlite3.connect(args.cache_db)
    rows = conn.execute(
        "SELECT f.id, p.path, f.x1, f.y1, f.x2, f.y2, f.score FROM faces f JOIN photos p ON p.id = f.photo_id "
        "WHERE p.status = 'indexed' ORDER BY p.path, f.face_index").fetchall()
    by_photo = defaultdict(list)
    for fid, path, x1, y1, x2, y2, score in rows:
        by_photo[path].append((fid, Detection(x1, y1, x2, y2, score, ())))
    photos_of = defaultdict(list)
    for path in by_photo:
        photos_of[os.path.basename(os.path.dirname(path))].append(path)
    chosen = sorted(p for p, ps in photos_of.items() if len(ps) >= args.min_photos or p in KNOWN and len(ps) >= 5)
    # Each LFW photo is centred on its person: keep the face nearest the centre (250x250 images).
    jobs = []
    for person in chosen:
        for path in photos_of[person]:
            fid, det = min(by_photo[path], key=lambda fd: abs((fd[1].x1 + fd[1].x2) / 2 - 125)
                           + abs((fd[1].y1 + fd[1].y2) / 2 - 125))
            jobs.append((person, AttributeJob(path, ((fid, det),))))
    spec = PipelineSpec.from_settings(Settings(device="cpu"))
    t0 = time.monotonic()
    results = []
    for start in range(0, len(jobs), 64):
        batch = jobs[start:start + 64]
        out = attributes_for_photos([j for _, j in batch], spec)
        results += [(person, attrs) for (person, _), (_, attrs, _) in zip(batch, out) if attrs is not None]
    elapsed = time.monotonic() - t0

    per_person = defaultdict(list)
    for person, a in results:
        per_person[person].append(a)
    agree = []
    for person, attrs in per_person.items():
        if len(attrs) >= args.min_photos:
            g = Counter(a.gender for a in attrs)
            agree.append(max(g.values()) / len(attrs))
    known = {p: v for p, v in KNOWN.items() if p in per_person}
    face_ok = face_n = person_ok = 0
    errors, person_err = [], []
    for person, (gender, born) in known.items():
        attrs = per_person[person]
        face_ok += sum(a.gender == gender for a in attrs)
        face_n += len(attrs)
        majority = Counter(a.gender for a in attrs).most_common(1)[0][0]
        person_ok += majority == gender
        truth = PHOTO_YEAR - born
        errors += [a.age - truth for a in attrs]
        person_err.append(statistics.median(a.age for a in attrs) - truth)
    by_gender = {g: [p for p, v in known.items() if v[0] == g] for g in ("female", "male")}
    female_recall = {g: sum(a.gender == g for p in ps for a in per_person[p]) / max(1, sum(len(per_person[p]) for p in ps))
                     for g, ps in by_gender.items()}
    emotions = Counter(a.emotion for _, a in results)
    errs = np.abs(np.array(errors))
    report = {
        "faces": len(results), "people": len(per_person), "seconds": round(elapsed, 1),
        "faces_per_s": round(len(results) / elapsed, 1),
        "gender_stability": {"people": len(agree), "median_agreement": round(float(np.median(agree)), 3),
                             "mean_agreement": round(float(np.mean(agree)), 3),
                             "people_below_90pct": int(sum(a < 0.9 for a in agree))},
        "known_people": {
            "people": len(known), "female": len(by_gender["female"]), "male": len(by_gender["male"]),
            "faces": face_n, "gender_accuracy_faces": round(face_ok / face_n, 4),
            "accuracy_on_women": round(female_recall["female"], 4), "accuracy_on_men": round(female_recall["male"], 4),
            "gender_accuracy_people_majority": round(person_ok / len(known), 4),
            "age_mae_faces": round(float(errs.mean()), 2), "age_median_abs_error_faces": round(float(np.median(errs)), 2),
            "age_mean_signed_error_faces": round(float(np.mean(errors)), 2),
            "age_mae_people_median": round(float(np.mean(np.abs(person_err))), 2),
        },
        "emotions": dict(emotions.most_common()),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
