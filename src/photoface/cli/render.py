"""Text output of each command's result (the --json output is the result itself)."""
from __future__ import annotations

from click import echo

from ..types import BY_USER, FROM_TAGS
from .options import printable


def index_summary(s) -> None:
    echo(f"{s.photos_seen} photos seen: {s.photos_indexed} indexed, {s.photos_unchanged} skipped (unchanged), "
         f"{s.photos_moved} moved, {s.photos_missing} missing, {s.photos_failed} failed; "
         f"{s.faces_found} faces found")
    if s.photos_indexed:  # a rate over failures alone says nothing
        where = "in this process (sync)" if s.scheduler == "sync" else f"with {s.workers} worker(s) ({s.scheduler})"
        echo(f"{s.photos_per_s:.2f} photos/s, {s.faces_per_s:.2f} faces/s {where}; {s.elapsed_s:.1f} s in all")
    for path, error in s.errors:
        echo(f"failed: {printable(path)}: {error}")
    if s.photos_failed > len(s.errors):
        echo(f"... and {s.photos_failed - len(s.errors)} more (see the photos table, status 'failed')")
    for path, error in s.scan_errors:
        echo(f"skipped folder: {printable(path)}: {error}")
    if s.reembedded:
        r = s.reembedded
        failed = f"; {r['failed']} could not be read and wait for the next run" if r["failed"] else ""
        echo(f"embedded again: {r['reembedded']} of {r['faces']} faces stored by an older photoface "
             f"(boxes, names and clusters kept; {r['elapsed_s']:.1f} s){failed}")
    if s.described:
        d = s.described
        failed = f"; {d['failed']} could not be read and wait for the next run" if d["failed"] else ""
        echo(f"described: {d['described']} of {d['faces']} faces stored without dlib's descriptor "
             f"(clustering uses it with FaceNet's; {d['elapsed_s']:.1f} s){failed}")
    if s.attributes:
        attributes_summary(s.attributes, new_faces=s.faces_found)
    if s.tags:
        tags_summary(s.tags, during_index=True)
    echo(f"database: {s.db}")


def tags_summary(t: dict, during_index: bool = False) -> None:
    """What reading the photos' face tags did (tags read, or index)."""
    if "error" in t:
        echo(f"face tags not read: {t['error']} (or index with --no-tags)")
        return
    if during_index and not t["photos"]:
        return
    echo(f"face tags: {t['regions']} named region(s) in {t['photos']} photo(s): {len(t['named'])} face(s) named, "
         f"{len(t['added'])} added from regions no face was found under"
         + (f", {len(t['unnamed'])} unnamed (their name was removed in another app)" if t["unnamed"] else ""))
    for c in t["conflicts"]:
        echo(f"conflict: face {c['face']} in {printable(c['path'])} is {printable(c['photoface'])!r} in photoface, "
             f"{printable(c['tags'])!r} in the tags: photoface's kept")
    for s in t["skipped"]:
        echo(f"skipped: face {s['face']} {printable(s['name'])!r}: {s['why']}")
    for u in t["unplaced"]:
        echo(f"not placed: {', '.join(repr(printable(n)) for n in u['names'])} in {printable(u['path'])}: "
             "named in the photo's tags without a face region, and the photo has no single face left to name")
    for u in t["unreadable"]:
        echo(f"unreadable tags: {printable(u['path'])}: {u['why']} (left as it was)")


def attributes_summary(a: dict, new_faces: int | None = None) -> None:
    """``a``: a fill-in run over faces without estimates; ``new_faces``: faces an index run
    just estimated while indexing them (not in ``a``)."""
    if new_faces is None:
        what = f"{a['estimated']} of {a['faces']} faces ({a['faces_per_s']:.1f} faces/s)"
    else:
        what = f"{new_faces + a['estimated']} faces ({new_faces} new, {a['estimated']} indexed earlier)"
    echo(f"age, gender and expression estimated for {what}" + (f"; {a['failed']} failed" if a["failed"] else ""))
    for e in a["errors"]:
        echo(f"failed: face {e['face_id']}: {e['error']}")


def status(info: dict) -> None:
    echo(f"{info['db']} (schema {info['schema_version']})")
    echo(f"photos: {info['photos']} ({info['indexed']} indexed, {info['failed']} failed, "
         f"{info['missing']} missing); faces: {info['faces']}"
         + (f", embedded with --precision {info['embedding_precision']}" if info.get("embedding_precision") else ""))
    if info.get("faces_without_descriptor"):
        echo(f"{info['faces_without_descriptor']} faces have no dlib descriptor yet: clustering uses FaceNet alone "
             "until `photoface index` adds them")
    echo(f"people: {info['named_people']} named, {info['unnamed_clusters']} unnamed clusters"
         + (f", {info['hidden_people']} hidden" if info["hidden_people"] else "")
         + f"; unknown faces: {info['unknown_faces']} (`photoface faces`)"
         + (f", ignored: {info['ignored_faces']}" if info["ignored_faces"] else ""))
    cal = info.get("calibration")
    if cal is None:
        echo("calibration: none (`photoface calibrate --from-names` once you have named a few people)")
    elif cal["f1"] is None:
        echo(f"calibration ({cal['at']}): {cal['reason']}")
    else:
        echo(f"calibration ({cal['at']}, {cal['people']} named people, {cal['faces']} faces): "
             f"{'fitted values applied' if cal['applies'] else 'defaults kept'}; on your own names BCubed precision "
             f"{cal['precision']:.3f}, recall {cal['recall']:.3f}, F1 {cal['f1']:.3f}")
    for run in info["runs"]:
        echo(f"run {run['id']}: {run['status']}, {run['root']}, started {run['started_at']}, "
             f"{run['photos_indexed']} indexed, {run['photos_failed']} failed, {run['faces_found']} faces")


def cluster(out: dict) -> None:
    echo(f"{out['mode']} clustering of {out['faces']} faces ({out['considered']} considered) in "
         f"{out['elapsed_s']:.1f} s: {out['assigned']} joined existing people, {out['new_people']} new "
         f"clusters, {out['unknown']} faces unknown; {out['people']} people and clusters in all")
    echo("`photoface people` lists them; `photoface undo` reverts this run" if out["event_id"] is not None
         else "nothing changed")


def _who(person) -> str:
    return f"{person.id:>5}  {printable(person.name)}" if person.name else f"{person.id:>5}  (unnamed cluster)"


def person(info) -> None:
    echo(f"{_who(info).strip()}{' (hidden)' if info.hidden else ''}: {len(info.face_list)} faces")
    if info.attributes:
        a = info.attributes
        echo(f"  estimated: age about {a['median_age']:.0f} (middle half {a['age_iqr'][0]:.0f}-{a['age_iqr'][1]:.0f}), "
             f"{a['gender']} ({a['gender_agreement']:.0%} of faces agree), "
             f"smiling in {a['smiling_share']:.0%} of {a['faces_with_attributes']} faces")
    for f in info.face_list:
        echo(f"  face {f['face_id']:>7}  {printable(f['path'])}  box {f['box']}  ({f['assigned_by']})")


def people(rows: list) -> None:
    if not rows:
        echo("no people yet: run `photoface cluster`")
        return
    echo(f"{'id':>5}  {'name':<30} {'faces':>6} {'photos':>6}  example faces")
    for r in rows:
        label = printable(r.name) or "(unnamed cluster)"
        if r.name and r.name_source == FROM_TAGS:
            label += " [from tags]"
        elif r.name and r.name_source != BY_USER:
            label += f" [{r.name_source} {r.name_confidence or 0:.2f}]"
        if r.hidden:
            label += " (hidden)"
        examples = ", ".join(str(e.face_id) for e in r.examples)
        if r.examples:
            examples += f" ({short_path(r.examples[0].path, 40)})"
        echo(f"{r.id:>5}  {label:<30} {r.faces:>6} {r.photos:>6}  {examples}")


def unknown_faces(out: dict, which: str) -> None:
    if not out["total"]:
        echo("no unknown faces" if which == "unknown" else "no ignored faces")
        return
    faces = out["faces"]
    shown = f"{out['offset'] + 1}-{out['offset'] + len(faces)} of " if len(faces) < out["total"] else ""
    echo(f"{shown}{out['total']} {which} faces in {out['groups']} groups of look-alikes, largest and sharpest first")
    group = None
    for f in faces:
        if f["group"] != group:
            group = f["group"]
            members = [g["face_id"] for g in faces if g["group"] == group]
            echo(f"group {group + 1}: {len(members)} face(s) {' '.join(map(str, members))}")
        echo(f"  face {f['face_id']:>7}  {short_path(f['path'])}  box {f['box']}")
    if out["offset"] + len(faces) < out["total"]:
        echo(f"... {out['total'] - out['offset'] - len(faces)} more: --offset {out['offset'] + len(faces)}")


def split_questions(questions: list) -> None:
    if not questions:
        echo("no person's faces look like two people")
        return
    for q in questions:
        who = printable(q.name) if q.name else f"unnamed #{q.person_id}"
        ids = " ".join(map(str, q.face_ids))
        echo(f"person {q.person_id} ({who}): {len(q.face_ids)} of {q.faces} faces may be someone else: {ids}")
        echo(f"  split them off: photoface split {q.person_id} {ids} [--name NAME]")
        echo(f"  or keep them:   photoface move {ids} --to {q.person_id}")


def short_path(path: str, width: int = 60) -> str:
    """A path for a line of text: its end, at most ``width`` characters, escaped."""
    text = printable(path)
    return text if len(text) <= width else "..." + text[-(width - 3):]


def history(rows: list) -> None:
    for r in rows:
        flag = f" (undone {r.undone_at})" if r.undone_at else ""
        summary = r.summary
        d = r.details or {}
        if r.action == "name" and "new" in d:  # said the same way for entries written by older versions
            summary = (f"renamed person {d['person']} {d['old']!r} to {d['new']!r}" if d.get("old")
                       else f"named cluster {d['person']} {d['new']!r}")
        echo(f"{r.id:>5}  {r.at[:19]}  {r.user or '-':<10} {r.action:<10} {printable(summary)}{flag}")


def label(out: dict, dry_run: bool) -> None:
    for s in out.get("skipped", []):
        echo(f"skipped {short_path(s['path'])}: {s['why']}")
    for n in out.get("notes", []):
        echo(f"note {short_path(n['path'])}: {n['what']}")
    existing = {g["name"]: g["existing_person"] for g in out.get("gallery_people", []) if g["existing_person"]}
    for name, pid in existing.items():
        echo(f"{printable(name)!r} is already person {pid} in the library: clusters that match join them")
    verb = "would name" if dry_run else "named"
    for m in out["named"]:
        joins = f", joining person {existing[m.name]}" if m.name in existing else ""
        echo(f"{verb} cluster {m.person} {printable(m.name)!r} (distance {m.distance}, confidence {m.confidence}){joins}")
    for m in out["review"]:
        echo(f"review: cluster {m.person} looks like {m.name!r} (distance {m.distance}) "
             "but not clearly; name it by hand if so")
    if not out["named"] and not out["review"]:
        echo("no cluster matched")


def _clock(seconds: float) -> str:
    """Seconds as m:ss.s (or h:mm:ss.s)."""
    m, s = divmod(seconds, 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def face_hits(hits: list[dict]) -> None:
    for h in hits:
        who = h["name"] or (f"cluster {h['person_id']}" if h["person_id"] else "unknown")
        echo(f"{h['distance']:.3f}  {printable(h['path'])}  face {h['face_id']} {h['box']}  {who}")
    if not hits:
        echo("no similar face in the library")


def photos(rows: list[dict]) -> None:
    for r in rows:
        if r.get("kind") == "video":
            spans = ", ".join(f"{_clock(a['start'])}-{_clock(a['end'])}" + (f" {a['name']}" if a["name"] else "")
                              for a in r["appearances"])
            echo(f"{printable(r['path'])}  [{spans}]")
        else:
            echo(printable(r["path"]))


def verify(out: dict, all_pairs: bool) -> None:
    for p in out["pairs"]:
        verdict = "same person" if p["same_person"] else "different people"
        echo(f"{verdict}: distance {p['distance']:.3f} (threshold {out['threshold']:.2f})"
             + (f"  face A{p['face_a']} {p['box_a']} / B{p['face_b']} {p['box_b']}" if all_pairs else ""))


def eval_pairs(out: dict) -> None:
    echo(f"{out['pairs']} pairs in {out['folds']} folds, {out['photos']} photos; "
         f"no face found in {out['photos_without_face']} photos ({out['pairs_without_face']} pairs, "
         "counted as 'different')")
    echo(f"accuracy      {out['accuracy']:.4f} +- {out['accuracy_std']:.4f}")
    echo(f"threshold     {out['threshold']:.3f} (median over folds; per fold "
         f"{min(out['fold_thresholds']):.3f}-{max(out['fold_thresholds']):.3f})")
    echo(f"VAL           {out['val']:.4f} +- {out['val_std']:.4f} at FAR {out['far']:.5f} "
         f"(target {out['far_target']:g})")
    echo(f"AUC           {out['auc']:.4f}")
    if out.get("roc_png"):
        echo(f"ROC curve     {out['roc_png']}")


def eval_cluster(out: dict) -> None:
    tags = "library_faces" in out
    if tags:
        echo(f"{out['library_faces']} faces in {out['photos']} photos clustered as if nobody were named; "
             f"{out['faces']} of them named by the photos' tags ({out['true_people']} people) are scored")
    else:
        echo(f"{out['faces']} faces in {out['photos']} photos, {out['true_people']} true identities "
             "(faces beside a photo's main person count as strangers)")
    head = ("algorithm", "clusters", "noise", "pair P", "pair R", "pair F1", "B3 P", "B3 R", "B3 F1", "s",
            *(("right",) if tags else ()))
    echo(f"{head[0]:<48}" + "".join(f"{h:>9}" for h in head[1:]))
    for r in out["results"]:
        vals = (r["clusters"], r["noise"], r["pairwise_p"], r["pairwise_r"], r["pairwise_f1"],
                r["bcubed_p"], r["bcubed_r"], r["bcubed_f1"], r["seconds"], *((r["right"],) if tags else ()))
        echo(f"{r['algorithm']:<48}" + "".join(f"{v:>9}" if isinstance(v, int) else f"{v:>9.4f}" for v in vals))


def calibrate(out: dict, fmr: float) -> None:
    echo(f"{out['faces']} faces: {out['same_pairs']} same-person pairs, {out['different_pairs']} different-person pairs")
    for level in out["levels"]:
        mark = "  <- target" if level["target_fmr"] == fmr else ""
        echo(f"false-match rate {level['target_fmr']:>6g}: threshold {level['threshold']:.3f}, "
             f"same-person pairs accepted {level['tmr']:.4f} (measured FMR {level['fmr']:.5f}){mark}")
    echo(f"photoface's defaults: {out['default_threshold']:.2f} for verify and search --face, "
         f"{out['default_naming_threshold']:.2f} for label and annotate. To use what was measured here:")
    echo(f"  photoface verify A B --threshold {out['threshold']:.3f}; photoface search --face F --threshold "
         f"{out['threshold']:.3f}")
    strict = next((lv for lv in out["levels"] if lv["target_fmr"] == 1e-4), None)
    if strict:
        echo(f"  photoface label --gallery G --threshold {strict['threshold']:.3f}  (the false-match rate 0.0001 "
             "level: naming is stricter than 1:1)")
    if "saved" in out:
        saved = ", ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in out["saved"].items())
        echo(f"stored in the library: {saved or 'nothing (too few pairs of different people)'}; "
             "verify --db, search, label and annotate use it unless given --threshold")


def calibrate_from_names(out: dict) -> None:
    c, t, d = out["cluster"], out["thresholds"], out["defaults"]
    echo(f"{c['people']} named people, {c['labeled_faces']} faces in them")
    if c["values"]:
        fitted = ", ".join(f"{k} {v:g}" for k, v in c["values"].items())
        echo(f"clustering: fitted {fitted}")
        echo(f"  on half of your named people, with what the other half taught: BCubed precision "
             f"{c['fitted']['precision']:.3f}, recall {c['fitted']['recall']:.3f}, F1 {c['fitted']['f1']:.3f} "
             f"(defaults: {c['default']['precision']:.3f}, {c['default']['recall']:.3f}, {c['default']['f1']:.3f})")
    echo(f"  {'applied from now on' if c['applies'] else 'not applied'}: {c['reason']}")
    echo(f"thresholds from {t['same_pairs']} same-person and {t['different_pairs']} different-person pairs:")
    for key, label in (("same_person_distance", "same person (verify --db, search --face)"),
                       ("naming_distance", "naming (label, annotate)")):
        if key in t:
            rate = t[key.replace("distance", "true_match_rate")]
            echo(f"  {label}: {t[key]:.3f} (default {d[key]:.2f}); {rate:.1%} of same-person pairs within it")
        else:
            echo(f"  {label}: too few pairs of different named people to measure; the default {d[key]:.2f} stays")


def annotate(r: dict) -> None:
    names = ", ".join(f"{n} ({k} frames)" for n, k in sorted(r["names"].items(), key=lambda x: -x[1])) or "no faces"
    echo(f"{r['frames']} frames ({r['width']}x{r['height']}, {r['fps']:g} fps) written to {r['output']}: {names}")
    echo(f"{r['frames_per_s']} frames/s, {r['realtime_factor']}x real time; "
         f"faces detected on {r['detection_frames']} frames")


def demographics(r: dict, per_person: bool) -> None:
    f, p = r["faces"], r["people"]
    echo(f"{f['count']} faces with estimates ({r['unassigned_faces']} not in any person), {p['count']} people")
    echo(f"{'age band':<10} {'faces':>7} {'people':>7}")
    for band, n in f["age_bands"].items():
        echo(f"{band:<10} {n:>7} {p['age_bands'][band]:>7}")
    echo(f"{'gender':<10} {'faces':>7} {'people':>7}")
    for g in ("female", "male", "uncertain"):
        echo(f"{g:<10} {f['gender'].get(g, 0):>7} {p['gender'][g]:>7}")
    echo(f"{'expression':<10} {'faces':>7} {'mean p':>7}")
    for e, n in f["emotion"].items():
        echo(f"{e:<10} {n:>7} {f['mean_probability'][e]:>7.3f}")
    if per_person:
        echo(f"{'id':>5}  {'name':<28} {'faces':>5} {'age':>5} {'gender':<8} {'agree':>5} {'smiling':>7}")
        for s in r["per_person"]:
            echo(f"{s['person_id']:>5}  {(s['name'] or '(unnamed cluster)'):<28} {s['faces_with_attributes']:>5} "
                 f"{s['median_age']:>5.0f} {s['gender']:<8} {s['gender_agreement']:>5.0%} {s['smiling_share']:>7.0%}")
